"""Part-of-speech tagging data: the Penn Treebank tagged samples (WSJ, OANC) of Debian's `python3-pattern`.

The corpora are for personal use (their README), so `hf_ckb` never ships them: `scripts/install.sh` fetches them
into `$HF_CKB_DATA_DIR/pattern/` (default `~/.cache/hf_ckb/pattern/`) and this module only reads them there.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

POS_CORPORA = {"wsj": "tagged-en-wsj.txt", "oanc": "tagged-en-oanc.txt"}
INSTALL_HINT = "Run `scripts/install.sh`, which fetches them with `apt-get download python3-pattern`"


def pattern_data_dir() -> str:
    """The folder `scripts/install.sh` puts the Pattern corpora in: `$HF_CKB_DATA_DIR/pattern` (default
    `~/.cache/hf_ckb/pattern`)."""
    root = os.environ.get("HF_CKB_DATA_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "hf_ckb")
    return os.path.join(root, "pattern")


def pattern_corpus_path(filename: str) -> str:
    """
    Returns the path of the Pattern corpus file `filename` (e.g. `"tagged-en-wsj.txt"`) in [`pattern_data_dir`].

    Raises:
        `FileNotFoundError`: if the file is not there (it is fetched by `scripts/install.sh`).
    """
    path = os.path.join(pattern_data_dir(), filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The corpus file {path} is missing. {INSTALL_HINT} (set HF_CKB_DATA_DIR to use another data folder)."
        )
    return path


def parse_tagged_sentence(line: str) -> tuple[list[str], list[str]]:
    """
    Splits one line of `word/TAG` items separated by spaces into words and tags.

    A word may itself contain '/' (`and/or/CC`), so each item is split on its last '/'.

    Raises:
        `ValueError`: if an item has no '/' or an empty word or tag.
    """
    words, tags = [], []
    for item in line.split():
        word, slash, tag = item.rpartition("/")
        if not slash or not word or not tag:
            raise ValueError(f"{item!r} is not a 'word/TAG' item.")
        words.append(word)
        tags.append(tag)
    return words, tags


def read_tagged_file(path: str) -> list[tuple[list[str], list[str]]]:
    """`(words, tags)` of every non-blank line of a `word/TAG` file, in file order."""
    sentences = []
    with open(path, encoding="utf-8-sig") as f:  # -sig: tolerate a byte-order mark
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                sentences.append(parse_tagged_sentence(line))
            except ValueError as error:
                raise ValueError(f"{path}, line {number}: {error}") from None
    if not sentences:
        raise ValueError(f"{path} holds no tagged sentences.")
    return sentences


def load_pos_dataset(
    name: str = "wsj",
    seed: int = 0,
    path: str | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> "datasets.DatasetDict":
    """
    Loads a Penn Treebank-tagged corpus of `python3-pattern` as a part-of-speech tagging dataset.

    Each non-blank line of the file is one example (the WSJ sample has 1,001 lines, 59 of which hold more than one
    sentence). The examples are shuffled with `seed`, then the first `validation_fraction` go to `validation`, the next
    `test_fraction` to `test` and the rest to `train` (80/10/10 by default).

    Args:
        name (`str`, *optional*, defaults to `"wsj"`):
            `"wsj"` (Penn Treebank Wall Street Journal sample: 1,001 lines, 25,026 tokens, 44 tags) or `"oanc"`
            (Open American National Corpus sample: 20,000 lines, 360,524 tokens, 48 tags, some of them ambiguity
            tags such as `NN|JJ`).
        seed (`int`, *optional*, defaults to 0):
            Seed of the generator that shuffles the lines before they are split.
        path (`str`, *optional*):
            Read this `word/TAG` file instead of the installed corpus `name`.
        validation_fraction (`float`, *optional*, defaults to 0.1):
            Share of the lines that goes to `validation`.
        test_fraction (`float`, *optional*, defaults to 0.1):
            Share of the lines that goes to `test`.

    Returns:
        `datasets.DatasetDict`: splits `train`, `validation` and `test` with columns `tokens` (sequence of `str`),
        `tags` (sequence of `ClassLabel`, names: the sorted tag set of the whole file) and `id` (the line's index
        among the file's non-blank lines).

    Raises:
        `FileNotFoundError`: if the corpus is not installed (see `scripts/install.sh`).
        `ValueError`: for an unknown `name`, bad fractions or a malformed file.
    """
    if validation_fraction < 0 or test_fraction < 0 or validation_fraction + test_fraction >= 1:
        raise ValueError(
            f"validation_fraction={validation_fraction} and test_fraction={test_fraction} must be non-negative "
            "and sum to less than 1."
        )
    if path is None:
        if name not in POS_CORPORA:
            raise ValueError(f"Unknown POS corpus {name!r}; choose one of {sorted(POS_CORPORA)} or pass path=.")
        path = pattern_corpus_path(POS_CORPORA[name])
    import datasets
    import numpy as np

    sentences = read_tagged_file(path)
    names = sorted({tag for _, tags in sentences for tag in tags})
    order = np.random.default_rng(seed).permutation(len(sentences)).tolist()
    val_end = round(validation_fraction * len(sentences))
    test_end = val_end + round(test_fraction * len(sentences))
    parts = {"validation": order[:val_end], "test": order[val_end:test_end], "train": order[test_end:]}
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.ClassLabel(names=names)),
            "id": datasets.Value("int64"),
        }
    )
    label_of = {tag: index for index, tag in enumerate(names)}

    def split(indices: list[int]) -> "datasets.Dataset":
        rows = {
            "tokens": [sentences[i][0] for i in indices],
            "tags": [[label_of[tag] for tag in sentences[i][1]] for i in indices],
            "id": indices,
        }
        return datasets.Dataset.from_dict(rows, features=features)

    return datasets.DatasetDict({name: split(parts[name]) for name in ("train", "validation", "test")})


def tokenize_tagged(
    ds: "datasets.Dataset | datasets.DatasetDict", tokenizer: "PreTrainedTokenizerBase", max_length: int = 128
) -> "datasets.Dataset | datasets.DatasetDict":
    """
    Tokenizes pre-split words (`tokens`) and aligns the word tags (`tags`) to the sub-tokens.

    The first sub-token of each word gets the word's tag; the word's other sub-tokens and the special tokens get
    -100 (ignored by the loss and by accuracy). Sequences are truncated to `max_length` sub-tokens (the words cut
    off lose their tags) and not padded: [`labelled_collator`] pads each batch, labels with -100.

    Args:
        ds (`datasets.Dataset` or `datasets.DatasetDict`):
            Data with `tokens` and `tags` columns, e.g. from [`load_pos_dataset`].
        tokenizer (`PreTrainedTokenizerBase`):
            A fast tokenizer (it must give `word_ids()`), e.g. from `hf_ckb.data.train_tokenizer`.
        max_length (`int`, *optional*, defaults to 128):
            Longest sub-token sequence kept.

    Returns:
        Same type as `ds`: the tokenizer's outputs (`input_ids`, `attention_mask`, ...) and `labels` (one per
        sub-token); every other column is removed.
    """
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        return datasets.DatasetDict({name: tokenize_tagged(split, tokenizer, max_length) for name, split in ds.items()})
    missing = [column for column in ("tokens", "tags") if column not in ds.column_names]
    if missing:
        raise ValueError(f"tokenize_tagged needs 'tokens' and 'tags' columns; {missing} missing: {ds.column_names}.")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("tokenize_tagged needs a fast tokenizer (PreTrainedTokenizerFast): it aligns by word_ids().")

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        encoded["labels"] = [align_labels(encoded.word_ids(i), tags) for i, tags in enumerate(batch["tags"])]
        return encoded

    return ds.map(encode, batched=True, remove_columns=ds.column_names, desc="Tokenizing")


def align_labels(word_ids: list[int | None], tags: list[int]) -> list[int]:
    """Per-sub-token labels: the word's tag on its first sub-token, -100 on its other sub-tokens and on special
    tokens (`word_ids` entries that are `None`)."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(-100 if word is None or word == previous else tags[word])
        previous = word
    return labels
