"""Images: scikit-learn's 8x8 handwritten digits as a `datasets` image dataset, and images -> pixel tokens.

`load_digits_dataset` ships offline with scikit-learn (1,797 images, ten classes). Each image is stored as an 8-bit
grayscale `datasets.Image` whose 17 intensity levels (0..16) map to 0..255, so `DigitsImageProcessor` reads the
original levels back exactly. The split is fixed by `seed`.
"""

from __future__ import annotations

from typing import Any

IMAGE_COLUMN = "image"


def load_digits_dataset(seed: int = 0, validation_fraction: float = 0.1, test_fraction: float = 0.2):
    """scikit-learn's digits as a `DatasetDict` (`train`, `validation`, `test`) with an `image` (`datasets.Image`)
    and a `label` (`ClassLabel` "0".."9") column, shuffled and split by `seed`."""
    import datasets
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = [np.rint(x * 255.0 / 16.0).astype(np.uint8) for x in digits.images]  # levels 0..16 -> 0..255
    features = datasets.Features({IMAGE_COLUMN: datasets.Image(),
                                  "label": datasets.ClassLabel(names=[str(d) for d in range(10)])})
    full = datasets.Dataset.from_dict({IMAGE_COLUMN: images, "label": digits.target.tolist()}, features=features)
    full = full.shuffle(seed=seed)
    n_test, n_val = round(test_fraction * len(full)), round(validation_fraction * len(full))
    return datasets.DatasetDict({"train": full.select(range(n_test + n_val, len(full))),
                                 "validation": full.select(range(n_test, n_test + n_val)),
                                 "test": full.select(range(n_test))})


def preprocess_images(ds, processor, image_column: str = IMAGE_COLUMN):
    """`ds` (a `Dataset` or `DatasetDict`) with its `image_column` turned into the processor's `input_ids` and
    `attention_mask`; `label` is kept, every other column removed."""
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        return datasets.DatasetDict({name: preprocess_images(split, processor, image_column)
                                     for name, split in ds.items()})
    check_image_column(ds, image_column)

    def encode(batch: dict[str, list]) -> dict[str, Any]:
        return dict(processor(batch[image_column]))

    removed = [column for column in ds.column_names if column != "label"]
    return ds.map(encode, batched=True, remove_columns=removed, desc="Processing images")


def check_image_column(ds, column: str) -> None:
    """A clear error unless `ds` has `column` holding images."""
    import datasets

    if column not in ds.column_names:
        raise ValueError(f"The network reads images, but the dataset has no image column {column!r} (its columns: "
                         f"{ds.column_names}); name it with --image-column / image_column=.")
    if not isinstance(ds.features[column], datasets.Image):
        raise ValueError(f"The network reads images, but column {column!r} holds {ds.features[column]}, not images "
                         "(is this a text dataset?).")


def is_image_processor(processing) -> bool:
    """Whether `processing` (a network's tokenizer or processor) reads images rather than text."""
    from transformers.image_processing_utils import BaseImageProcessor

    return isinstance(processing, BaseImageProcessor)


__all__ = ["IMAGE_COLUMN", "check_image_column", "is_image_processor", "load_digits_dataset", "preprocess_images"]
