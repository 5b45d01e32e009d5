"""The datasets of the `hf-ckb` commands: loaded, labelled like their models and tokenized, per network."""

from __future__ import annotations

from .errors import CLIError
from .options import per_network


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
