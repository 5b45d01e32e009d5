"""`hf-ckb convert`: turn a folder written by an older hf_ckb into a bundle."""

from .errors import CLIError
from .options import Formatter, parse_networks

HELP = "Convert a folder of an older hf_ckb layout (import, export or distillation run) into a bundle."
DESCRIPTION = """\
Before the bundle layout, each run wrote its own: an import run ckb/ + interfaces/NAME/ (without the networks),
an export run networks/NAME/, a distillation run interface/ + host/ (+ ckb/). This writes OLD_DIR's contents as
a bundle into --output-dir: the CKB at its root, interfaces/NAME/, hosts/NAME/, exported/NAME/ (see
`hf_ckb.bundle`). OLD_DIR is only read."""
EPILOG = """\
examples:
  hf-ckb convert old-import --network rnn=models/rnn --network cnn=models/cnn --output-dir kb
  hf-ckb convert old-adapt --ckb kb --name cnn --output-dir kb-cnn
  hf-ckb convert old-export --ckb kb --output-dir kb-exported"""


def add_parser(subparsers):
    p = subparsers.add_parser("convert", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    p.add_argument("old_dir", metavar="OLD_DIR", help="The folder to convert.")
    p.add_argument("--output-dir", required=True, metavar="DIR", help="The bundle to write.")
    p.add_argument("--network", action="append", metavar="NAME=MODEL_DIR",
                   help="An import run's network (the layout did not save them); repeat for each interface.")
    p.add_argument("--ckb", metavar="BUNDLE",
                   help="The CKB of a distillation run that did not save it, or the bundle an export run came from.")
    p.add_argument("--name", metavar="NAME", help="A distillation run's interface name (default: its model_type).")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..legacy import convert_legacy
    from .output import check_output_dir

    if args.output_dir == args.old_dir:
        raise CLIError("--output-dir must differ from OLD_DIR (OLD_DIR is only read).")
    check_output_dir(args.output_dir)
    hosts = parse_networks(args.network) if args.network else None
    try:
        bundle = convert_legacy(args.old_dir, args.output_dir, hosts=hosts, ckb=args.ckb, name=args.name)
    except (OSError, ValueError) as err:
        raise CLIError(str(err).splitlines()[0]) from err
    print(f"Wrote the bundle {args.output_dir}/: the CKB, interfaces {', '.join(bundle.interfaces) or 'none'}, "
          f"exported networks {', '.join(bundle.exported) or 'none'}.")
    return 0
