"""Schema and cell checks of a loaded dataset: missing columns, empty splits, empty or non-text cells, each a
`ValueError` naming the split and the column."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets


def check_schema(ds: "datasets.DatasetDict", source: str, columns: list[str], text: bool = True) -> None:
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
            check_cells(arrow_column(split, column), column, f"split {name!r} of {source!r}",
                         text=text and column == columns[0])


def arrow_column(split: "datasets.Dataset", column: str) -> Any:
    """A column of `split` as Arrow data (the rows of `split`, also when it selects rows of a larger table)."""
    return split.with_format("arrow")[column]


def check_cells(cells: Any, column: str, where: str, text: bool) -> None:
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
