"""Load any text classification dataset (built-in, local file or Hub id) into one schema: `text` and `label`."""

from __future__ import annotations

import logging
import math
import os
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .checks import check_schema
from .labels import align_labels

if TYPE_CHECKING:
    import datasets
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

_FILE_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _builder_arguments(source: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Returns the `datasets.load_dataset` arguments for a local file, a local folder or a Hub id."""
    extension = os.path.splitext(source)[1].lower()
    if not os.path.isfile(source):
        if extension in _FILE_BUILDERS:
            raise FileNotFoundError(f"Dataset file {source!r} does not exist; check the path.")
        return (source,), {}  # a local folder or a Hub dataset id
    if extension not in _FILE_BUILDERS:
        raise ValueError(f"Cannot read {source!r}: supported file types are {sorted(_FILE_BUILDERS)}.")
    kwargs: dict[str, Any] = {"data_files": source}
    if extension == ".tsv":
        kwargs["delimiter"] = "\t"
    return (_FILE_BUILDERS[extension],), kwargs


def _load_builtin(source: str, split: str | None) -> "datasets.DatasetDict":
    """Loads a dataset built into `hf_ckb`: `rotten_tomatoes` (text) or `digits` (scikit-learn's images)."""
    import datasets

    from .images import load_digits_dataset
    from .rotten_tomatoes import load_rotten_tomatoes

    loaded = load_rotten_tomatoes() if source == "rotten_tomatoes" else load_digits_dataset()
    if split is None:
        return loaded
    if split not in loaded:
        raise ValueError(f"{source} has no split {split!r}; its splits are {list(loaded)}.")
    return datasets.DatasetDict({split: loaded[split]})


def _load_raw(source: str, split: str | None) -> "datasets.DatasetDict":
    """Loads `source` (built-in name, local file or folder, or Hub id) as a `DatasetDict`, wrapping failures."""
    import datasets

    if source in ("rotten_tomatoes", "digits"):
        return _load_builtin(source, split)
    args, kwargs = _builder_arguments(source)
    # `datasets` pings the Hub to count downloads (3 s timeout) even for local data; skip that for local data.
    counts = datasets.config.HF_UPDATE_DOWNLOAD_COUNTS
    datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = counts and not os.path.exists(source)
    # The file readers log each failure before raising it; every failure is raised again below, worded for a user.
    readers = logging.getLogger("datasets.packaged_modules")
    level = readers.level
    readers.setLevel(logging.CRITICAL)
    try:
        loaded = datasets.load_dataset(*args, split=split, **kwargs)
    except Exception as error:
        raise _load_error(error, source, split) from error
    finally:
        datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = counts
        readers.setLevel(level)
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({split.split("[")[0] if split else "train": loaded})
    if not isinstance(loaded, datasets.DatasetDict):
        raise ValueError(f"{source!r} loaded as a {type(loaded).__name__}; expected a map-style dataset.")
    return loaded


def _load_error(error: Exception, source: str, split: str | None) -> ValueError:
    """The `ValueError` that tells a user why `datasets.load_dataset` failed on `source`."""
    if "corresponds to no data" in str(error):  # how `datasets` reports a file without rows
        return ValueError(f"Split {split or 'train'!r} of {source!r} has no rows; add data to it.")
    if _cause(error, UnicodeDecodeError):
        if os.path.isfile(source):
            stem, extension = os.path.splitext(source)
            fixed = f"iconv -f latin1 -t utf-8 {shlex.quote(source)} > {shlex.quote(stem + '.utf8' + extension)}"
            return ValueError(f"{source!r} is not UTF-8 text (Latin-1?); re-encode it, e.g. `{fixed}`.")
        return ValueError(f"A file in {source!r} is not UTF-8 text (Latin-1?); re-encode it, e.g. "
                          "`iconv -f latin1 -t utf-8 FILE > FILE.utf8`.")
    where = "a local file" if os.path.isfile(source) else "a local folder" if os.path.isdir(source) else "a Hub id"
    return ValueError(f"Could not load dataset {source!r} as {where}: {error}")


def _cause(error: BaseException, kind: type) -> BaseException | None:
    """The first exception of type `kind` in the chain of causes of `error` (`datasets` wraps reader errors)."""
    while error is not None and not isinstance(error, kind):
        error = error.__cause__ or error.__context__
    return error


def _rename(ds: "datasets.DatasetDict", column: str, target: str) -> "datasets.DatasetDict":
    """Renames `column` to `target`, dropping any other column already called `target`."""
    if column == target:
        return ds
    if target in next(iter(ds.values())).column_names:
        ds = ds.remove_columns(target)
    return ds.rename_column(column, target)


def load_text_dataset(
    source: str,
    *,
    split: str | None = None,
    text_column: str = "text",
    label_column: str | None = "label",
    labels: "PretrainedConfig | Mapping[str, int] | None" = None,
    validation_split_fraction: float | None = None,
    seed: int = 0,
) -> "datasets.DatasetDict":
    """
    Loads a text classification dataset and gives it the package's schema: a `text` column and a `label` column.

    Args:
        source (`str`):
            `"rotten_tomatoes"` (built in, split by movie), a local `.csv`/`.tsv`/`.json`/`.jsonl`/`.parquet` file
            or folder, or a Hugging Face Hub dataset id.
        split (`str`, *optional*):
            Load only this split (e.g. `"train"`); by default every split.
        text_column (`str`, *optional*, defaults to `"text"`):
            Column holding the text; renamed to `text`.
        label_column (`str`, *optional*, defaults to `"label"`):
            Column holding the label; renamed to `label` and given class ids by [`align_labels`]. `None` for
            unlabelled text.
        labels (`PretrainedConfig` or `Mapping[str, int]`, *optional*):
            The model the labels are for (its config, or its `label2id`): class names go through its `label2id`,
            ids must be below its `num_labels`. By default (a model yet to train) names get ids in sorted order.
        validation_split_fraction (`float`, *optional*):
            If set and there is no `validation` split, this share of `train` becomes `validation`.
        seed (`int`, *optional*, defaults to 0):
            Seed of the validation carve-out.

    Returns:
        `datasets.DatasetDict`: the splits, with `text`, `label` (a `ClassLabel`, unless `label_column=None`) and
        any other columns.

    Raises:
        `ValueError`: if the source cannot be loaded (or is not UTF-8 text), a column is missing, a split is empty,
        a text or label cell is empty, labels do not fit `labels` (see [`align_labels`]), or `train` is too small
        to carve a validation split from.
    """
    ds = _load_raw(source, split)
    check_schema(ds, source, [text_column] + ([label_column] if label_column is not None else []))
    if label_column is not None:
        ds = align_labels(_rename(ds, label_column, "label"), labels, source=source)
    ds = _rename(ds, text_column, "text")
    return carve_validation(ds, validation_split_fraction, seed, source)


def load_image_dataset(source: str, image_column: str = "image", label_column: str = "label", labels=None,
                       validation_split_fraction: float | None = None, seed: int = 0) -> "datasets.DatasetDict":
    """An image classification dataset as a `DatasetDict` with an `image` (`datasets.Image`) and a `label` column,
    labelled like [`load_text_dataset`] (see [`align_labels`]). `source`: `digits` (scikit-learn's, built in), a
    local image folder (`datasets`' imagefolder: one sub-folder per class, or split folders of them), or a Hub
    dataset id; `image_column`/`label_column` name its columns."""
    from .images import check_image_column

    ds = _load_raw(source, None)
    check_schema(ds, source, [image_column, label_column], text=False)
    ds = align_labels(_rename(ds, label_column, "label"), labels, source=source)
    ds = _rename(ds, image_column, "image")
    for split in ds.values():
        check_image_column(split, "image")
    return carve_validation(ds, validation_split_fraction, seed, source)


def carve_validation(ds: "datasets.DatasetDict", fraction: float | None, seed: int, source: str):
    """`ds` with a validation split carved from train (`fraction` of it, shuffled by `seed`) when it has none and
    `fraction` is given; else `ds` unchanged."""
    if fraction is None or "validation" in ds:
        return ds
    if "train" not in ds:
        raise ValueError(f"Cannot carve a validation split: {source!r} has no 'train' split ({list(ds)}).")
    if not 0 < fraction < 1:
        raise ValueError(f"validation_split_fraction must be in (0, 1); got {fraction}.")
    minimum = max(2, math.ceil(1 / (1 - fraction)))  # both parts get at least one row
    if len(ds["train"]) < minimum:
        raise ValueError(f"The 'train' split of {source!r} has {len(ds['train'])} row(s): carving a validation "
                         f"split needs at least {minimum}. Add rows, or give a validation split.")
    parts = ds["train"].train_test_split(test_size=fraction, seed=seed)
    ds["train"], ds["validation"] = parts["train"], parts["test"]
    return ds


def tokenize_dataset(
    ds: "datasets.Dataset | datasets.DatasetDict", tokenizer: "PreTrainedTokenizerBase", max_length: int = 128
) -> "datasets.Dataset | datasets.DatasetDict":
    """
    Tokenizes the `text` column (truncated to `max_length`, not padded: a data collator pads each batch).

    Args:
        ds (`datasets.Dataset` or `datasets.DatasetDict`):
            Data with a `text` column, e.g. from [`load_text_dataset`].
        tokenizer (`PreTrainedTokenizerBase`):
            Tokenizer to apply.
        max_length (`int`, *optional*, defaults to 128):
            Longest token sequence kept.

    Returns:
        Same type as `ds`: the tokenizer's outputs (`input_ids`, `attention_mask`, ...) and `label` if present;
        `text` and every other column are removed.

    An image network's processor (`tokenizer` an image processor, e.g. `DigitsImageProcessor`) processes the `image`
    column instead ([`preprocess_images`]); images given to a text tokenizer are a clear error.
    """
    import datasets

    from .images import IMAGE_COLUMN, is_image_processor, preprocess_images

    if is_image_processor(tokenizer):
        return preprocess_images(ds, tokenizer)
    if isinstance(ds, datasets.DatasetDict):
        return datasets.DatasetDict({name: tokenize_dataset(split, tokenizer, max_length)
                                     for name, split in ds.items()})
    if isinstance(ds.features.get("text"), datasets.Image) or (
            "text" not in ds.column_names and isinstance(ds.features.get(IMAGE_COLUMN), datasets.Image)):
        raise ValueError("The network reads text, but the dataset holds images (column "
                         f"{'text' if 'text' in ds.column_names else IMAGE_COLUMN!r}): give it an image network.")
    if "text" not in ds.column_names:
        raise ValueError(f"tokenize_dataset needs a 'text' column; got {ds.column_names}. Use load_text_dataset first.")

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    removed = [column for column in ds.column_names if column != "label"]
    return ds.map(encode, batched=True, remove_columns=removed, desc="Tokenizing")


def _first_example(dataset: Any) -> dict:
    """The first example of a map-style or iterable dataset; `{}` for `None` or an empty one."""
    if dataset is None:
        return {}
    if hasattr(dataset, "__len__"):
        example = dataset[0] if len(dataset) else None
    else:
        example = next(iter(dataset), None)
    return example if isinstance(example, dict) else {}


def has_token_labels(dataset: Any) -> bool:
    """Whether `dataset` (a `datasets.Dataset`, a list of dicts...) holds one label per token: its first example's
    `labels` (or `label`) is a list or a tensor with a dimension, rather than a number."""
    example = _first_example(dataset)
    label = example.get("labels", example.get("label"))
    return isinstance(label, (list, tuple)) or getattr(label, "ndim", 0) >= 1


def labelled_collator(tokenizer: "PreTrainedTokenizerBase", dataset: Any = None) -> Any:
    """
    The data collator that pads batches of `dataset` with `tokenizer`, labels included.

    Returns `DataCollatorForTokenClassification` (per-token `labels` padded with -100, which loss and accuracy
    ignore) when `dataset` holds one label per token (see [`has_token_labels`]), else `DataCollatorWithPadding`
    (one label per example, renamed `labels`; also right for unlabelled data and `dataset=None`).

    Raises:
        `ValueError`: if per-token labels are in a column named `label`: `DataCollatorForTokenClassification` would
        keep that name, which the models and `evaluate_network` do not read; rename it to `labels`.
    """
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding, DefaultDataCollator

    from .images import is_image_processor

    if is_image_processor(tokenizer):  # images give sequences of one length: stacked, nothing to pad
        return DefaultDataCollator()
    if not has_token_labels(dataset):
        return DataCollatorWithPadding(tokenizer)
    if "labels" not in _first_example(dataset):
        raise ValueError("Per-token labels must be in a column named 'labels', not 'label'; rename it.")
    return DataCollatorForTokenClassification(tokenizer)


def pad_and_concat(tensors: list[Any], padding_value: int = -100) -> Any:
    """Concatenates per-batch tensors along the first dimension, first padding the second one to the longest with
    `padding_value`: batches of per-token logits `(B, T, C)` or labels `(B, T)` differ in length `T`. Per-example
    tensors (`(B,)`, `(B, C)`) are concatenated unchanged."""
    import torch
    import torch.nn.functional as F

    if tensors[0].dim() < 2:
        return torch.cat(tensors)
    width = max(t.shape[1] for t in tensors)
    return torch.cat([F.pad(t, [0, 0] * (t.dim() - 2) + [0, width - t.shape[1]], value=padding_value) for t in tensors])


def labelled_predictions(logits: Any, labels: Any) -> tuple[Any, Any]:
    """`(predicted class ids, labels)` as flat tensors over the positions that have a label: every example for
    per-example labels, every position whose label is not -100 for per-token labels. Takes tensors or arrays (e.g.
    `EvalPrediction.predictions` and `.label_ids`)."""
    import torch

    labels = torch.as_tensor(labels)
    keep = labels != -100
    return torch.as_tensor(logits).argmax(-1)[keep], labels[keep]
