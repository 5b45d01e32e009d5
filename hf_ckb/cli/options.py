"""Command-line option types, the help formatter, the options several commands share and `NAME=VALUE` parsing."""

from __future__ import annotations

import argparse
import re

from .errors import CLIError

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# ------------------------------------------------------------------------------------------------ argument types
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1]."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text}")
    return value


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and epilogs (the examples) and shows the defaults that say something."""

    def _get_help_string(self, action):
        text = action.help or ""
        quiet = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if not quiet and "%(default)" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text

    def _get_default_metavar_for_optional(self, action):
        if action.type in (int, positive_int):
            return "N"
        if action.type is positive_float:
            return "X"
        return action.dest.upper()


def add_data_options(parser: argparse.ArgumentParser, per_network: bool) -> None:
    """--dataset, --text-column, --label-column, --max-length; per network (NAME=VALUE) when `per_network`."""
    named = " Give once for every network, or as NAME=SOURCE once per network." if per_network else ""
    parser.add_argument("--dataset", action="append", required=True, metavar="SOURCE",
                        help="'rotten_tomatoes' (built in), a local .csv/.tsv/.json/.jsonl/.parquet file, a folder of "
                             "such files named by split (train.csv, validation.csv, test.csv), or a Hub dataset id; "
                             "for an image network, 'digits' (built in), an image folder (one sub-folder per class) "
                             "or a Hub image dataset."
                             + named)
    col = " (or NAME=COL per network)" if per_network else ""
    parser.add_argument("--text-column", action="append", metavar="COL", help=f"Text column{col}. (default: text)")
    parser.add_argument("--label-column", action="append", metavar="COL", help=f"Label column{col}. (default: label)")
    parser.add_argument("--image-column", action="append", metavar="COL",
                        help=f"Image column of an image network's dataset{col}. (default: image)")
    parser.add_argument("--max-length", type=positive_int, default=64, help="Longest token sequence kept.")


def add_training_options(parser: argparse.ArgumentParser, steps: int = 600) -> None:
    from ..training import LOSSES

    parser.add_argument("--steps", type=positive_int, default=steps, help="Optimiser steps.")
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3, help="Peak learning rate (cosine decay).")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="Examples per network per step.")
    parser.add_argument("--loss", choices=sorted(LOSSES), default="nmse",
                        help="Imitation loss between an interface and the function it imitates.")
    parser.add_argument("--eval-steps", type=positive_int, default=200,
                        help="Evaluate and checkpoint every this many steps; the best checkpoint (min validation "
                             "accuracy over networks) is kept.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument("--resume", action="store_true",
                        help="Resume from the last checkpoint-* folder in --output-dir.")


# ------------------------------------------------------------------------------------------------ NAME=VALUE
def parse_pair(text: str, option: str) -> tuple[str, str]:
    """Splits `NAME=VALUE`; a missing '=', an empty side or an odd name is a `CLIError`."""
    name, sep, value = text.partition("=")
    if not sep or not value or not NAME_RE.match(name):
        raise CLIError(f"{option} expects NAME=VALUE (a name of letters, digits, '_', '.', '-'), e.g. "
                       f"{option} rnn=models/rnn; got {text!r}.")
    return name, value


def parse_networks(values: list[str], option: str = "--network") -> dict[str, str]:
    """`--network NAME=DIR` entries as an ordered name -> dir map; repeated names are an error."""
    out: dict[str, str] = {}
    for text in values:
        name, value = parse_pair(text, option)
        if name in out:
            raise CLIError(f"{option} names {name!r} twice; every network needs its own name.")
        out[name] = value
    return out


def per_network(values: list[str] | None, option: str, names: list[str], default: str | None) -> dict[str, str]:
    """Resolves a repeatable option given once globally (`VALUE`) and/or per network (`NAME=VALUE`)."""
    shared, named = default, {}
    global_seen = False
    for text in values or []:
        head, sep, _ = text.partition("=")
        if sep and NAME_RE.match(head):
            name, value = parse_pair(text, option)
            if name not in names:
                raise CLIError(f"{option} {text!r} names {name!r}, which matches no --network "
                               f"(networks: {', '.join(names)}).")
            if name in named:
                raise CLIError(f"{option} is given twice for network {name!r}.")
            named[name] = value
        else:
            if global_seen:
                raise CLIError(f"{option} is given twice without a NAME=; use NAME=VALUE to give one per network.")
            shared, global_seen = text, True
    out = {}
    for name in names:
        value = named.get(name, shared)
        if value is None:
            raise CLIError(f"No {option} for network {name!r}: give {option} VALUE for all networks or "
                           f"{option} {name}=VALUE.")
        out[name] = value
    return out
