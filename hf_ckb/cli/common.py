"""Helpers shared by the `hf-ckb` commands: user errors, `NAME=VALUE` options, loading data and models, tables."""

from __future__ import annotations

import argparse
import json
import os
import re

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class CLIError(Exception):
    """A mistake in the command line or in its inputs: `main` prints it as one line and exits with status 2."""


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
                             "such files named by split (train.csv, validation.csv, test.csv), or a Hub dataset id."
                             + named)
    col = " (or NAME=COL per network)" if per_network else ""
    parser.add_argument("--text-column", action="append", metavar="COL", help=f"Text column{col}. (default: text)")
    parser.add_argument("--label-column", action="append", metavar="COL", help=f"Label column{col}. (default: label)")
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


# ------------------------------------------------------------------------------------------------ data
def load_data(source: str, text_column: str, label_column: str, seed: int = 0, need_train: bool = True,
              carve: bool = True):
    """`load_text_dataset`, with a validation split carved from train (10%) when there is none and `carve`;
    its errors become `CLIError`s."""
    from ..data import load_text_dataset

    try:
        data = load_text_dataset(source, text_column=text_column, label_column=label_column,
                                 validation_split_fraction=0.1 if carve else None, seed=seed)
    except (ValueError, FileNotFoundError, ImportError) as err:
        raise CLIError(str(err).replace("text_column=/label_column=", "--text-column/--label-column")) from err
    if need_train and "train" not in data:
        raise CLIError(f"Dataset {source!r} has no 'train' split (its splits: {list(data)}).")
    return data


def data_specs(args, names: list[str]) -> dict[str, tuple[str, str, str]]:
    """Per network: `(source, text column, label column)` from --dataset/--text-column/--label-column. Call it
    before loading anything so that a bad option fails at once."""
    sources = per_network(args.dataset, "--dataset", names, None)
    texts = per_network(args.text_column, "--text-column", names, "text")
    labels = per_network(args.label_column, "--label-column", names, "label")
    return {name: (sources[name], texts[name], labels[name]) for name in names}


def load_network_data(args, specs: dict, tokenizers: dict, need_train: bool = True, carve: bool = True) -> dict:
    """Per network: its dataset (see `data_specs`), tokenized with its own tokenizer. Returns name -> DatasetDict."""
    from ..data import tokenize_dataset

    raw_cache: dict = {}
    out = {}
    for name, spec in specs.items():
        if spec not in raw_cache:
            raw_cache[spec] = load_data(*spec, seed=getattr(args, "seed", 0), need_train=need_train, carve=carve)
        out[name] = tokenize_dataset(raw_cache[spec], tokenizers[name], max_length=args.max_length)
    return out


# ------------------------------------------------------------------------------------------------ models
def _looks_local(path: str) -> bool:
    """Whether `path` can only be a local folder (not a Hub id like 'bert-base-uncased' or 'org/name')."""
    first = path.split("/")[0]
    return (os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") > 1 or path.endswith("/")
            or os.sep != "/" and os.sep in path or (("/" in path) and os.path.isdir(first)))


def check_model_path(path: str, option: str) -> None:
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise CLIError(f"{option} {path!r} holds no config.json: it is not a saved model folder.")
    elif os.path.exists(path):
        raise CLIError(f"{option} {path!r} is a file; give the folder the model was saved to.")
    elif _looks_local(path):
        raise CLIError(f"{option} {path!r}: no such model directory.")


def load_classifier(path: str, option: str = "--model", **kwargs):
    """`(AutoModelForSequenceClassification, AutoTokenizer)` from a folder or Hub id, with a pad token set."""
    from transformers import AutoModelForSequenceClassification

    from .. import networks  # noqa: F401  (registers the paper's networks with the Auto classes)

    check_model_path(path, option)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as err:
        raise CLIError(f"Cannot load a sequence classification model from {option} {path!r}: "
                       f"{str(err).splitlines()[0]}") from err
    return model, load_tokenizer(path, option, model)


def load_tokenizer(path: str, option: str, model=None):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError) as err:
        raise CLIError(f"Cannot load a tokenizer from {option} {path!r}: {str(err).splitlines()[0]}") from err
    if tokenizer.pad_token is None:  # e.g. GPT-2: pad with an existing token so batches can be padded
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if tokenizer.pad_token is None:
            raise CLIError(f"The tokenizer in {path!r} has no pad, eos or unk token to pad batches with.")
    if model is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer


def load_ckb(directory: str):
    """A saved CKB from `directory` or from `directory/ckb` (an import output folder)."""
    from ..ckb import CKBModel

    for candidate in (directory, os.path.join(directory, "ckb")):
        if os.path.isfile(os.path.join(candidate, "config.json")):
            try:
                return CKBModel.from_pretrained(candidate)
            except (OSError, ValueError) as err:
                raise CLIError(f"Cannot load the CKB in {candidate!r}: {str(err).splitlines()[0]}") from err
    raise CLIError(f"No saved CKB in {directory!r} (expected {os.path.join(directory, 'ckb', 'config.json')}); "
                   "give the --output-dir of `hf-ckb import`.")


def interface_dir(import_dir: str, name: str) -> str:
    from ..interface.config import INTERFACE_CONFIG_NAME

    path = os.path.join(import_dir, "interfaces", name)
    found = available_interfaces(import_dir)
    if not os.path.isfile(os.path.join(path, INTERFACE_CONFIG_NAME)):
        raise CLIError(f"No interface {name!r} in {import_dir!r} (expected {path}/{INTERFACE_CONFIG_NAME}); "
                       f"interfaces there: {', '.join(found) or 'none'}.")
    return path


def available_interfaces(import_dir: str) -> list[str]:
    """The interface names saved in an import folder; a folder without `interfaces/` is a `CLIError`."""
    root = os.path.join(import_dir, "interfaces")
    if not os.path.isdir(root):
        what = "no such directory" if not os.path.isdir(import_dir) else "it holds no interfaces/ folder"
        raise CLIError(f"--import-dir {import_dir!r}: {what}; give the --output-dir of `hf-ckb import`.")
    return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))


def check_resume(output_dir: str, resume: bool) -> None:
    from transformers.trainer_utils import get_last_checkpoint

    if resume and (not os.path.isdir(output_dir) or get_last_checkpoint(output_dir) is None):
        raise CLIError(f"--resume: no checkpoint-* folder in {output_dir!r} to resume from.")


def device_of(module):
    return next(module.parameters()).device


def model_accuracy(model, tokenizer, dataset, batch_size: int = 128) -> float:
    """Accuracy of a plain classifier on a tokenized labelled dataset, on the model's device."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding

    from ..training.trainer import accuracy

    device = device_of(model)
    model.eval()
    predictions, references = [], []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=DataCollatorWithPadding(tokenizer)):
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
            predictions.append(logits.argmax(-1).cpu())
            references.append(batch["labels"])
    return accuracy(torch.cat(predictions), torch.cat(references))


# ------------------------------------------------------------------------------------------------ output
def table(header: list[str], rows: list[list]) -> str:
    """A plain aligned text table; floats get 4 decimals, None shows as '-'."""
    def cell(v):
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [header] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: str, data: dict) -> None:
    from ..pipeline import save_json

    save_json(path, data)


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2)
