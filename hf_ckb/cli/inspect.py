"""`hf-ckb inspect`: knowledge accounting of a bundle (what is in its CKB, and which networks use it)."""

from .data import data_specs, load_network_data
from .errors import CLIError
from .models import _bundle_errors
from .options import Formatter, add_data_options, positive_int
from .output import dumps, table

HELP = "What a bundle's CKB holds and who uses it: knockout, slot use, overlap; writes inspect/ into the bundle."
DESCRIPTION = """\
Scores every interface of the bundle (or those named by --network) on one split of a dataset:

  dependence  the CKB-backed accuracy and the fidelity to the host's function with the CKB as imported, zeroed
              and replaced by random matrices of the same spread, beside the host and the majority class; a
              network "uses the CKB" when a knockout costs it >= 1 point of accuracy or >= 0.05 of fidelity
  slot use    the share of its attention read taken from CKB rows (not its own input rows); per level, the
              effective number of rows read (exp of the entropy) and the fraction ever read above 1/n
  overlap     how alike two networks' slot preferences are (centred cosine of their read profiles)

Interfaces whose host is not in the bundle are skipped, and listed. Writes inspect/inspect.json,
inspect/knockout.png and inspect/reads.png into a local bundle, and its card shows them (a Hub repo id is scored,
not written; --no-write writes nothing)."""
EPILOG = """\
examples:
  hf-ckb inspect ckb-quickstart --dataset rotten_tomatoes
  hf-ckb inspect kb --network rnn --dataset rotten_tomatoes --split validation --json"""


def add_parser(subparsers):
    p = subparsers.add_parser("inspect", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    p.add_argument("bundle", metavar="BUNDLE", help="A bundle folder or Hub repo id.")
    p.add_argument("--network", action="append", metavar="NAME",
                   help="Inspect only this network (repeat for several; default: all).")
    add_data_options(p, per_network=True)
    p.add_argument("--split", default="test", help="Split to score.")
    p.add_argument("--batch-size", type=positive_int, default=128, help="Examples per forward pass.")
    p.add_argument("--seed", type=int, default=1, help="Seed of the random CKB of the knockout.")
    p.add_argument("--no-write", action="store_true", help="Print only; write nothing into the bundle.")
    p.add_argument("--json", action="store_true", help="Print the report as JSON.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    import os

    from ..knowledge.accounting import inspect, load_for_inspection

    bundle, skipped = _bundle_errors(load_for_inspection, args.bundle, "BUNDLE", interfaces=args.network)
    names = sorted(bundle.interfaces)
    if not names:
        raise CLIError(f"BUNDLE {args.bundle!r} has no interface with its host to inspect"
                       + (f" (skipped: {_skipped(skipped)})." if skipped else "."))
    specs = data_specs(args, names)
    configs = {n: bundle.interfaces[n].base_model.config for n in names}
    data = load_network_data(args, specs, bundle.tokenizers, need_train=False, carve=args.split == "validation",
                             configs=configs)
    missing = [n for n in names if args.split not in data[n]]
    if missing:
        raise CLIError(f"Dataset {specs[missing[0]][0]!r} has no split {args.split!r} (its splits: "
                       f"{', '.join(data[missing[0]])}).")
    local = os.path.isdir(args.bundle)
    report = inspect(bundle, {n: data[n][args.split] for n in names}, batch_size=args.batch_size, seed=args.seed,
                     write=local and not args.no_write)
    report["skipped"] = {**skipped, **report["skipped"]}
    print(dumps(report) if args.json else _text(report, args, local))
    return 0


def _text(report: dict, args, local: bool) -> str:
    keys = ["network", "design", "host", "as_imported", "zeroed", "random", "majority", "uses_ckb", "ckb_share",
            "eff_rows_low", "eff_rows_high"]
    rows = []
    for name, e in sorted(report["interfaces"].items()):
        ko, reads = e["knockout"], e["reads"]
        accuracies = [e["host_accuracy"], *(ko[k].get("accuracy") for k in ("imported", "zero", "random")),
                      e["majority"]]
        rows.append([name, e["design"], *(None if a is None else f"{a:.2f}" for a in accuracies),
                     "yes" if e["uses_ckb"] else "no", reads["ckb_share"],
                     f"{reads['low']['effective_slots']:.1f}/{reads['low']['slots']}",
                     f"{reads['high']['effective_slots']:.1f}/{reads['high']['slots']}"])
    lines = [f"Accuracy (%) on the {args.split} split; the CKB as imported, zeroed, random:", table(keys, rows)]
    lines += [f"overlap {pair.replace('|', ' & ')}: {value:.3f}" for pair, value in report["overlap"].items()]
    if report["skipped"]:
        lines.append(f"skipped: {_skipped(report['skipped'])}")
    if local and not args.no_write:
        lines.append(f"written: {args.bundle}/inspect/ (inspect.json, knockout.png, reads.png) and the card")
    lines.append(f"{report['seconds']:.0f} s")
    return "\n".join(lines)


def _skipped(skipped: dict) -> str:
    return "; ".join(f"{name} ({why})" for name, why in sorted(skipped.items()))
