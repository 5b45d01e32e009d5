"""Shared tiny fixtures for the CKB, interface and training tests: seeded hosts in eval mode, a tiny CKB, a tokenizer.

Every host fixture is a *factory* (`make_host(kind, seed=0)`) as well as a ready instance, because attaching an
interface changes the host in place: tests that need "a fresh host with the same weights" call the factory twice.
"""

from __future__ import annotations

import pytest
import torch

# The models here are tiny: with several intra-op threads, each op pays thread hand-off costs (100x slower on a
# loaded 2-core machine). One thread keeps the suite fast and its numbers independent of the machine's core count.
torch.set_num_threads(1)

VOCAB = 50
NUM_LABELS = 2
HOST_KINDS = ("bert", "gpt2", "rnn", "cnn", "ann")


def build_host(kind: str, seed: int = 0):
    """A tiny host model of `kind` ('bert', 'gpt2', 'rnn', 'cnn', 'ann'), seeded, in eval mode."""
    from transformers import BertConfig, BertForSequenceClassification, GPT2Config, GPT2ForSequenceClassification

    from hf_ckb.networks import (ANNConfig, ANNForSequenceClassification, CNNConfig, CNNForSequenceClassification,
                                 RNNConfig, RNNForSequenceClassification)

    torch.manual_seed(seed)
    if kind == "bert":
        model = BertForSequenceClassification(BertConfig(
            vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=64, num_labels=NUM_LABELS))
    elif kind == "gpt2":
        model = GPT2ForSequenceClassification(GPT2Config(
            vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=64, pad_token_id=0, bos_token_id=1,
            eos_token_id=1, num_labels=NUM_LABELS))
    elif kind == "rnn":
        model = RNNForSequenceClassification(RNNConfig(vocab_size=VOCAB, embedding_size=16, hidden_size=16,
                                                       num_labels=NUM_LABELS))
    elif kind == "cnn":
        model = CNNForSequenceClassification(CNNConfig(vocab_size=VOCAB, embedding_size=16, window_sizes=[2, 3],
                                                       num_filters=8, num_labels=NUM_LABELS))
    elif kind == "ann":
        model = ANNForSequenceClassification(ANNConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32,
                                                       num_attention_heads=2, max_position_embeddings=64,
                                                       num_labels=NUM_LABELS))
    else:
        raise ValueError(f"unknown host kind {kind!r}")
    return model.eval()


def build_ckb(seed: int = 0):
    """A tiny CKB (K=3, n_l=4, n_h=5, d=16), seeded, in eval mode."""
    from hf_ckb import CKBConfig, CKBModel

    torch.manual_seed(seed)
    return CKBModel(CKBConfig(num_low_level=3, low_level_size=4, high_level_size=5, hidden_size=16)).eval()


def interface_fidelity(net, tokenizer, dataset) -> float:
    """Mean cosine of a one-block `memory`-design interface's rows to its host function's on `dataset`, teacher-forced
    (`hf_ckb.training.memory_bank.record_function`)."""
    from hf_ckb.training.memory_bank import record_function

    x, y = record_function(net, tokenizer, dataset)
    (block,) = net.interface_blocks()
    with torch.no_grad():
        prediction = block(x[:, None], net.ckb.low_level, net.ckb.high_level)[:, 0]
    return float(torch.nn.functional.cosine_similarity(prediction, y, dim=-1).mean())


@pytest.fixture
def make_host():
    """Factory: `make_host(kind, seed=0)` -> a fresh tiny host (same seed, same weights)."""
    return build_host


@pytest.fixture
def make_ckb():
    """Factory: `make_ckb(seed=0)` -> a fresh tiny CKB."""
    return build_ckb


@pytest.fixture
def tiny_ckb_config():
    from hf_ckb import CKBConfig

    return CKBConfig(num_low_level=3, low_level_size=4, high_level_size=5, hidden_size=16)


@pytest.fixture
def tiny_ckb():
    return build_ckb()


@pytest.fixture
def tiny_bert():
    return build_host("bert")


@pytest.fixture
def tiny_gpt2():
    return build_host("gpt2")


@pytest.fixture
def tiny_rnn():
    return build_host("rnn")


@pytest.fixture
def tiny_cnn():
    return build_host("cnn")


@pytest.fixture
def tiny_ann():
    return build_host("ann")


@pytest.fixture
def token_ids():
    """`(3, 7)` random ids in [1, VOCAB) (no pad id 0), seeded."""
    generator = torch.Generator().manual_seed(1234)
    return torch.randint(1, VOCAB, (3, 7), generator=generator)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tokenizer()


def build_tokenizer():
    """A word-level tokenizer over 'w0'..'w49' with '[PAD]' = id 0, right padding (pads batches for the Trainer)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i for i in range(2, VOCAB)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                   padding_side="right", model_max_length=64)


def random_token_dataset(n: int, seed: int, min_len: int = 4, max_len: int = 10, labels: bool = False) -> list[dict]:
    """`n` examples of random ids in [2, VOCAB) with varying lengths (so batches get padded); optional labels."""
    generator = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(n):
        length = int(torch.randint(min_len, max_len + 1, (1,), generator=generator))
        ids = torch.randint(2, VOCAB, (length,), generator=generator).tolist()
        item = {"input_ids": ids, "attention_mask": [1] * length}
        if labels:
            item["labels"] = int(torch.randint(0, NUM_LABELS, (1,), generator=generator))
        data.append(item)
    return data


@pytest.fixture
def make_token_dataset():
    """Factory: `make_token_dataset(n, seed, labels=False)` -> list of tokenized examples (see
    `random_token_dataset`)."""
    return random_token_dataset
