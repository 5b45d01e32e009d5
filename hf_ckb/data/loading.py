"""Load any text classification dataset (built-in, local file or Hub id) into one schema: `text` and `label`."""

from __future__ import annotations

import logging
import math
import os
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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


def _check_schema(ds: "datasets.DatasetDict", source: str, columns: list[str], text: bool = True) -> None:
    """Raises `ValueError` if a split is empty or lacks one of `columns` (the first one text, unless not `text`)."""
    import datasets

    names = "text_column=/label_column=" if text else "image_column=/label_column="
    for name, split in ds.items():
        for column in columns:
            if column not in split.column_names:
                images = [c for c, f in split.features.items() if isinstance(f, datasets.Image)]
                modality = "" if bool(images) != text else (
                    f" The network reads text, but the dataset holds images (column {images[0]!r})." if text else
                    " The network reads images, but the dataset holds none (is it a text dataset?).")
                raise ValueError(
                    f"Column {column!r} is missing from split {name!r} of {source!r}; available columns: "
                    f"{split.column_names}.{modality} Pass the right name as {names}."
                )
        if split.num_rows == 0:
            raise ValueError(f"Split {name!r} of {source!r} has no rows; a dataset needs data in every split.")
        for column in columns:
            _check_cells(_column(split, column), column, f"split {name!r} of {source!r}",
                         text=text and column == columns[0])


def _column(split: "datasets.Dataset", column: str) -> Any:
    """A column of `split` as Arrow data (the rows of `split`, also when it selects rows of a larger table)."""
    return split.with_format("arrow")[column]


def _check_cells(cells: Any, column: str, where: str, text: bool) -> None:
    """Raises `ValueError` naming `column` and the count of its empty cells (null, or blank strings), or if a text
    column holds something other than strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type)
    if text and not strings:
        raise ValueError(f"Column {column!r} of {where} holds {cells.type} values, not text; pass the text column "
                         "as text_column=.")
    if strings:  # a null's length is null: fill it as empty
        empty = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(cells)), 0), True)
    else:
        empty = pc.is_null(cells)
    count = pc.sum(empty).as_py() or 0
    if count:
        first = pc.index(empty, True).as_py()
        raise ValueError(f"Column {column!r} of {where} has {count} empty cell(s) (the first in data row "
                         f"{first + 1}); fill or drop those rows.")


def _rename(ds: "datasets.DatasetDict", column: str, target: str) -> "datasets.DatasetDict":
    """Renames `column` to `target`, dropping any other column already called `target`."""
    if column == target:
        return ds
    if target in next(iter(ds.values())).column_names:
        ds = ds.remove_columns(target)
    return ds.rename_column(column, target)


def has_label_names(config: "PretrainedConfig") -> bool:
    """Whether `config.id2label` names the classes, rather than holding the placeholders `LABEL_0`, `LABEL_1`, ...
    that `transformers` gives a model nobody named the labels of."""
    return any(name != f"LABEL_{i}" for i, name in (getattr(config, "id2label", None) or {}).items())


def _target_labels(labels: Any, num_labels: int | None) -> tuple[list[str] | None, int | None]:
    """`(class names in id order or None, number of classes or None)` from a model config, a label2id mapping or
    None (see `align_labels`)."""
    if labels is None:
        return None, num_labels
    if not isinstance(labels, Mapping):  # a PretrainedConfig
        if not has_label_names(labels):
            return None, labels.num_labels
        labels = {name: int(i) for i, name in labels.id2label.items()}
    names = [name for name, _ in sorted(labels.items(), key=lambda item: item[1])]
    if sorted(labels.values()) != list(range(len(labels))):
        raise ValueError(f"A label2id mapping needs the ids 0..{len(labels) - 1}; got {sorted(labels.values())}.")
    if num_labels is not None and num_labels != len(names):
        raise ValueError(f"label2id names {len(names)} classes but num_labels is {num_labels}.")
    return names, len(names)


def _few(values: list, limit: int = 5) -> str:
    """The first `limit` of `values` as reprs, and how many more there are."""
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _split_tokens(split: "datasets.Dataset", known: list[str] | None) -> dict[Any, str | int]:
    """Each label value of `split` (its unique cells) -> a class name (`str`) or a class id (`int`): a `ClassLabel`
    gives its names when the target model names its classes and its ids otherwise; digit strings are ids unless
    they are one of the `known` names; integral numbers are ids."""
    import datasets

    feature, values = split.features["label"], split.unique("label")
    if isinstance(feature, datasets.ClassLabel):  # -1 (`datasets`' "no label") stays an id, reported as invalid
        return {v: feature.int2str(v) if known is not None and v >= 0 else v for v in values}
    dtype = getattr(feature, "dtype", None)
    if dtype in ("string", "large_string"):
        return {v: v if (known and v in known) or not v.strip().isdigit() else int(v) for v in values}
    if dtype is not None and dtype.startswith(("int", "uint", "float")) and all(float(v).is_integer() for v in values):
        return {v: int(v) for v in values}
    raise ValueError(f"Labels must be class names or integer ids; the label column holds {feature}: "
                     f"{_few(sorted(values))}.")


def _class_ids(tokens: set, names: list[str] | None, num_labels: int | None, where: str) -> dict:
    """Class name or id -> id in the target model (`names`/`num_labels`), or for a new model (both None): names in
    sorted order, ids as they are. Unknown names, out-of-range ids and a mix of names and ids are errors."""
    given = sorted(t for t in tokens if isinstance(t, str))
    ids = sorted(t for t in tokens if isinstance(t, int))
    if given and ids:
        raise ValueError(f"The labels of {where} mix class names ({_few(given)}) and class ids ({_few(ids)}); use "
                         "one kind.")
    if given and names is None and num_labels is not None:
        raise ValueError(f"The labels of {where} are class names ({_few(given)}) but the model does not name its "
                         f"classes (its id2label is LABEL_0..LABEL_{num_labels - 1}); give its class ids "
                         f"0..{num_labels - 1} instead.")
    position = {name: i for i, name in enumerate(names if names is not None else given)}
    limit = num_labels if num_labels is not None else math.inf
    bad = [t for t in given if t not in position] + [t for t in ids if not 0 <= t < limit]
    if bad:
        known = (f"the model's labels are {_few(names, 10)}" if names is not None else
                 f"the model's class ids are 0..{num_labels - 1}" if num_labels is not None else "ids start at 0")
        raise ValueError(f"{len(bad)} label value(s) of {where} are not classes of the model: {_few(bad)} ({known}). "
                         "Fix those rows, or use a model with these classes.")
    return {t: position[t] if isinstance(t, str) else t for t in tokens}


def _new_names(ds: "datasets.DatasetDict", ids: dict, num_labels: int | None) -> list[str]:
    """Class names in id order when the target model names none: the sorted names of string labels, a
    `ClassLabel`'s names, else the `transformers` placeholders `LABEL_0`, ..."""
    import datasets

    feature = next(iter(ds.values())).features["label"]
    if any(isinstance(t, str) for t in ids):
        return sorted(ids, key=ids.get)
    if isinstance(feature, datasets.ClassLabel) and num_labels in (None, feature.num_classes):
        return list(feature.names)
    count = num_labels if num_labels is not None else max(ids.values(), default=-1) + 1
    return [f"LABEL_{i}" for i in range(count)]


def align_labels(
    ds: "datasets.DatasetDict",
    labels: "PretrainedConfig | Mapping[str, int] | None" = None,
    *,
    num_labels: int | None = None,
    source: str = "the dataset",
) -> "datasets.DatasetDict":
    """
    Gives the `label` column of every split the class ids of a model, stored as a `ClassLabel` naming the classes.

    Labels that are class names (strings, or the names of a `ClassLabel`) go through the model's `label2id`;
    integer labels, and strings of digits such as `"0"`, are class ids and must be below the model's `num_labels`.
    Without a model (`labels=None`, `num_labels=None`: a new model trains on these labels) names get ids in sorted
    order (a `ClassLabel` keeps its own order) and ids stay as they are; record the resulting
    `features["label"].names` in the new model's `id2label`.

    Args:
        ds (`datasets.DatasetDict`):
            Splits with a `label` column (e.g. from [`load_text_dataset`]).
        labels (`PretrainedConfig` or `Mapping[str, int]`, *optional*):
            The model's config (its `id2label` and `num_labels`; placeholder names `LABEL_0`, ... mean the model
            only knows ids) or its `label2id`.
        num_labels (`int`, *optional*):
            The model's number of classes, when `labels` is not a config.
        source (`str`, *optional*):
            How errors name the dataset.

    Returns:
        `datasets.DatasetDict`: the same splits; `label` holds the model's class ids as a `ClassLabel`.

    Raises:
        `ValueError`: naming the offending values, if labels are null, are names the model does not know or ids
        outside `0..num_labels-1`, or mix names and ids.
    """
    import datasets
    import pyarrow as pa
    import pyarrow.compute as pc

    names, num_labels = _target_labels(labels, num_labels)
    for name, split in ds.items():
        _check_cells(_column(split, "label"), "label", f"split {name!r} of {source!r}", text=False)
    tokens = {name: _split_tokens(split, names) for name, split in ds.items()}
    ids = _class_ids({t for split in tokens.values() for t in split.values()}, names, num_labels, repr(source))
    label_feature = datasets.ClassLabel(names=names if names is not None else _new_names(ds, ids, num_labels))
    out = {}
    for name, split in ds.items():
        keys, targets = list(tokens[name]), pa.array([ids[t] for t in tokens[name].values()], pa.int64())

        def relabel(batch: pa.Table, keys: list = keys, targets: pa.Array = targets) -> pa.Table:
            column = batch["label"]
            aligned = pc.take(targets, pc.index_in(column, value_set=pa.array(keys, column.type)))
            return batch.set_column(batch.schema.get_field_index("label"), "label", aligned)

        features = split.features.copy()
        features["label"] = label_feature
        out[name] = split.with_format("arrow").map(relabel, batched=True, features=features,
                                                   desc="Aligning labels").with_format(None)
    return datasets.DatasetDict(out)


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
    _check_schema(ds, source, [text_column] + ([label_column] if label_column is not None else []))
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
    _check_schema(ds, source, [image_column, label_column], text=False)
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
        return datasets.DatasetDict({name: tokenize_dataset(split, tokenizer, max_length) for name, split in ds.items()})
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
