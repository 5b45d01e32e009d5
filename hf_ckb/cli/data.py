"""The datasets of the `hf-ckb` commands: loaded, labelled like their models and tokenized, per network."""

from __future__ import annotations

from .errors import CLIError
from .options import per_network


def load_data(source: str, text_column: str, label_column: str, seed: int = 0, need_train: bool = True,
              carve: bool = True, labels=None, image_column: str | None = None):
    """`load_text_dataset` (or, with `image_column`, `load_image_dataset`: an image network's data) with the labels
    given the class ids of `labels` (a model's config; None for a model yet to train) and a validation split carved
    from train (10%) when there is none and `carve`; its errors become `CLIError`s."""
    from ..data.loading import load_image_dataset, load_text_dataset

    fraction = 0.1 if carve else None
    try:
        if image_column is not None:
            data = load_image_dataset(source, image_column=image_column, label_column=label_column, labels=labels,
                                      validation_split_fraction=fraction, seed=seed)
        else:
            data = load_text_dataset(source, text_column=text_column, label_column=label_column, labels=labels,
                                     validation_split_fraction=fraction, seed=seed)
    except (ValueError, FileNotFoundError, ImportError) as err:
        message = str(err).replace("text_column=/label_column=", "--text-column/--label-column")
        message = message.replace("image_column=/label_column=", "--image-column/--label-column")
        raise CLIError(message.replace("text_column=", "--text-column")) from err
    if need_train and "train" not in data:
        raise CLIError(f"Dataset {source!r} has no 'train' split (its splits: {list(data)}).")
    return data


def data_specs(args, names: list[str]) -> dict[str, tuple[str, str, str, str]]:
    """Per network: `(source, text column, label column, image column)` from --dataset/--text-column/
    --label-column/--image-column. Call it before loading anything so that a bad option fails at once."""
    sources = per_network(args.dataset, "--dataset", names, None)
    texts = per_network(args.text_column, "--text-column", names, "text")
    labels = per_network(args.label_column, "--label-column", names, "label")
    images = per_network(getattr(args, "image_column", None), "--image-column", names, "image")
    return {name: (sources[name], texts[name], labels[name], images[name]) for name in names}


def _label_key(config) -> tuple | None:
    """What of a model's config decides its labels' ids: networks that agree on it share one loaded dataset."""
    return None if config is None else (config.num_labels, tuple(sorted(config.id2label.items())))


def load_network_data(args, specs: dict, tokenizers: dict, need_train: bool = True, carve: bool = True,
                      configs: dict | None = None) -> dict:
    """Per network: its dataset (see `data_specs`), its labels given the ids of its model (`configs[name]`, the
    model's config; see `hf_ckb.data.align_labels`), tokenized with its own tokenizer. Returns name ->
    DatasetDict."""
    from ..data import tokenize_dataset
    from ..data.images import is_image_processor

    raw_cache: dict = {}
    out = {}
    for name, (source, text, label, image) in specs.items():
        config = (configs or {}).get(name)
        image = image if is_image_processor(tokenizers[name]) else None  # the network's processor decides
        key = (source, text, label, image, _label_key(config))
        if key not in raw_cache:
            try:
                raw_cache[key] = load_data(source, text, label, seed=getattr(args, "seed", 0),
                                           need_train=need_train, carve=carve, labels=config, image_column=image)
            except CLIError as err:
                if len(specs) == 1:
                    raise
                raise CLIError(f"Network {name!r}: {err}") from err
        out[name] = tokenize_dataset(raw_cache[key], tokenizers[name], max_length=args.max_length)
    return out
