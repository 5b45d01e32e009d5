"""`hf-ckb`: the command line of hf_ckb. One module per command; `main(argv)` parses, runs and maps the errors a
user can cause to one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys

from . import adapt, convert, evaluate, export, finetune, hub, import_, inspect, quickstart
from .errors import CLIError
from .options import Formatter

COMMANDS = (quickstart, finetune, import_, export, adapt, evaluate, inspect, hub, convert)

DESCRIPTION = """\
A continuous knowledge base (Chen, Sun & Liu 2021) for Hugging Face models: fine-tune networks, import their
knowledge into one CKB, export it into fresh networks, evaluate them, and share them on the Hub.
`hf-ckb COMMAND --help` explains each command and what it writes."""
EPILOG = """\
the flow, step by step:
  hf-ckb finetune --architecture rnn --dataset rotten_tomatoes --output-dir models/rnn
  hf-ckb finetune --architecture cnn --dataset rotten_tomatoes --output-dir models/cnn
  hf-ckb import --network rnn=models/rnn --network cnn=models/cnn --dataset rotten_tomatoes --output-dir kb
  hf-ckb export --bundle kb --network rnn --dataset rotten_tomatoes
  hf-ckb evaluate --bundle kb --dataset rotten_tomatoes
  hf-ckb inspect kb --dataset rotten_tomatoes
or all of it at once: hf-ckb quickstart
then share the bundle: hf-ckb push ckb-quickstart my-name/my-ckb; hf-ckb pull my-name/my-ckb --output-dir my-ckb"""


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="hf-ckb", description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def _quiet_libraries() -> None:
    import datasets
    import transformers

    transformers.logging.set_verbosity_warning()
    datasets.logging.set_verbosity_warning()


def main(argv: list[str] | None = None) -> int:
    """Runs `hf-ckb` with `argv` (default: `sys.argv[1:]`); returns the exit status."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    from ..interface import CKBMismatchError

    try:
        return args.run(args)
    except CLIError as err:
        return _fail(str(err))
    except CKBMismatchError as err:
        message = str(err).replace("pass allow_ckb_mismatch=True", "pass --allow-ckb-mismatch")
        if "--allow-ckb-mismatch" not in message and "allow_ckb_mismatch" not in message and "width" not in message:
            message += " Pass --allow-ckb-mismatch to pair them anyway."
        return _fail(message)
    except FloatingPointError as err:  # the CKB Trainers stop on a non-finite loss
        message = str(err).replace("Lower the learning rate", "Lower --learning-rate")
        return _fail(message if "--learning-rate" in message else f"{message} Try a smaller --learning-rate.")
    except KeyboardInterrupt:
        print("hf-ckb: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    _close_progress_bars()
    print(f"hf-ckb: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _close_progress_bars() -> None:
    """A Trainer stopped by an error leaves its bar open, to be redrawn after our message; close it first."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


__all__ = ["CLIError", "build_parser", "main"]
