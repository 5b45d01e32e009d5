"""Shared helpers of the performance benchmark: interleaved timing, paper-size networks, real batches, logging."""

from __future__ import annotations

import gc
import math
import statistics
import time

import torch

PAPER_CKB = dict(num_low_level=10, low_level_size=30, high_level_size=20, hidden_size=256)


def log(*args) -> None:
    """A progress line with the wall-clock time (the full run takes a quarter of an hour)."""
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(fns: dict, repeats: int, warmup: int = 1, device="cpu", min_time: float = 0.0) -> dict:
    """Times each callable of `fns` `repeats` times in turn (A, B, C, A, B, C, ...) after `warmup` calls each.

    Returns `{name: [seconds, ...]}`. Interleaving makes ratios robust to other load on the machine: a slow period
    hits every variant of a round alike. `min_time` repeats a call within one sample until it lasts that long.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            calls, start = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                sync(device)
                elapsed = time.perf_counter() - start
                if elapsed >= min_time:
                    break
            times[name].append(elapsed / calls)
    return times


def ratio(times: dict, num: str, den: str) -> dict:
    """`num / den`: the median of the per-round ratios (robust to drifting load) and the ratio of medians."""
    per_round = [a / b for a, b in zip(times[num], times[den])]
    return {"ratio": statistics.median(per_round), "ratio_of_medians": median(times[num]) / median(times[den]),
            "spread": [min(per_round), max(per_round)]}


def median(values) -> float:
    return statistics.median(values)


def fit_exponent(xs, ys) -> float:
    """Least-squares slope of log(y) against log(x): y ~ x^slope."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def make_ckb(device="cpu", seed: int = 0, **sizes):
    from hf_ckb import CKBConfig, CKBModel

    torch.manual_seed(seed)
    return CKBModel(CKBConfig(**{**PAPER_CKB, **sizes})).to(device)


def make_network(kind: str, vocab_size: int, seed: int = 0):
    """The paper's small networks at their default (paper) sizes, randomly initialised (speed does not depend on
    the weights), in eval mode."""
    from hf_ckb.networks import (ANNConfig, ANNForSequenceClassification, CNNConfig, CNNForSequenceClassification,
                                 RNNConfig, RNNForSequenceClassification)

    torch.manual_seed(seed)
    if kind == "rnn":
        return RNNForSequenceClassification(RNNConfig(vocab_size=vocab_size)).eval()
    if kind == "cnn":
        return CNNForSequenceClassification(CNNConfig(vocab_size=vocab_size)).eval()
    if kind == "ann":
        return ANNForSequenceClassification(ANNConfig(vocab_size=vocab_size, max_position_embeddings=512)).eval()
    raise ValueError(kind)


def minilm_host(device):
    """all-MiniLM-L6-v2 as a 2-class classifier in eval mode (head seeded with 0) and its tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_ckb.data import minilm_path

    path = minilm_path()
    torch.manual_seed(0)
    host = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval().to(device)
    return host, AutoTokenizer.from_pretrained(path)


_DATA = {}


def rotten_tomatoes_texts(split: str = "train") -> list[str]:
    if split not in _DATA:
        from hf_ckb.data import load_rotten_tomatoes

        _DATA[split] = list(load_rotten_tomatoes()[split]["text"])
    return _DATA[split]


_TOKENIZER = {}


def word_tokenizer():
    """The package's BPE tokenizer (8,000 entries) trained on the Rotten Tomatoes training texts."""
    if "bpe" not in _TOKENIZER:
        from hf_ckb.data import train_tokenizer

        _TOKENIZER["bpe"] = train_tokenizer(rotten_tomatoes_texts())
    return _TOKENIZER["bpe"]


def real_batch(tokenizer, size: int = 32, max_length: int = 64, offset: int = 0, device="cpu") -> dict:
    """`size` consecutive training snippets, padded to the longest: `input_ids`, `attention_mask`, `index`."""
    texts = rotten_tomatoes_texts()[offset : offset + size]
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device),
            "index": torch.arange(offset, offset + size)}


def tokenized_dataset(tokenizer, texts: list[str], max_length: int) -> list[dict]:
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return [{"input_ids": ids, "attention_mask": m} for ids, m in zip(enc["input_ids"], enc["attention_mask"])]
