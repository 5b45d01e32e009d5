"""Label alignment: a dataset's `label` column given the class ids of a model (names through its `label2id`, ids
checked against its `num_labels`), stored as a `ClassLabel`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .checks import arrow_column, check_cells

if TYPE_CHECKING:
    import datasets
    from transformers import PretrainedConfig


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
        check_cells(arrow_column(split, "label"), "label", f"split {name!r} of {source!r}", text=False)
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
