"""Data: the built-in Rotten Tomatoes split, part-of-speech corpora, scikit-learn's digits (images), generic text
dataset loading, tokenization, collators and tokenizers."""

from .images import load_digits_dataset, preprocess_images
from .labels import align_labels, has_label_names
from .loading import (has_token_labels, labelled_collator, labelled_predictions, load_text_dataset, pad_and_concat,
                      tokenize_dataset)
from .pos import load_pos_dataset, pattern_corpus_path, tokenize_tagged
from .rotten_tomatoes import load_rotten_tomatoes, rotten_tomatoes_path
from .tokenizer import minilm_path, train_tokenizer

__all__ = [
    "align_labels",
    "has_label_names",
    "has_token_labels",
    "labelled_collator",
    "labelled_predictions",
    "load_digits_dataset",
    "load_pos_dataset",
    "load_rotten_tomatoes",
    "load_text_dataset",
    "minilm_path",
    "pad_and_concat",
    "pattern_corpus_path",
    "preprocess_images",
    "rotten_tomatoes_path",
    "tokenize_dataset",
    "tokenize_tagged",
    "train_tokenizer",
]
