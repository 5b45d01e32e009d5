"""Data: the built-in Rotten Tomatoes split, generic text dataset loading, tokenization and tokenizers."""

from .loading import load_text_dataset, tokenize_dataset
from .rotten_tomatoes import load_rotten_tomatoes, rotten_tomatoes_path
from .tokenizer import minilm_path, train_tokenizer

__all__ = [
    "load_rotten_tomatoes",
    "load_text_dataset",
    "minilm_path",
    "rotten_tomatoes_path",
    "tokenize_dataset",
    "train_tokenizer",
]
