"""Behaviour of the paper's three small networks (GRU, Kim CNN, small Transformer) as transformers models."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

from hf_ckb.networks import (
    ANNConfig,
    ANNForSequenceClassification,
    ANNForTokenClassification,
    CNNConfig,
    CNNForSequenceClassification,
    CNNForTokenClassification,
    ConvWindows,
    RNNConfig,
    RNNForSequenceClassification,
    RNNForTokenClassification,
)

VOCAB, LABELS, BATCH, T = 50, 3, 3, 9


def tiny_config(kind: str):
    common = dict(vocab_size=VOCAB, num_labels=LABELS)
    if kind == "rnn":
        return RNNConfig(embedding_size=16, hidden_size=16, **common)
    if kind == "cnn":
        return CNNConfig(embedding_size=16, window_sizes=[2, 3, 4], num_filters=5, **common)
    return ANNConfig(
        hidden_size=16, intermediate_size=32, num_attention_heads=2, max_position_embeddings=32, **common
    )


SEQUENCE = {
    "rnn": RNNForSequenceClassification,
    "cnn": CNNForSequenceClassification,
    "ann": ANNForSequenceClassification,
}
TOKEN = {"rnn": RNNForTokenClassification, "cnn": CNNForTokenClassification, "ann": ANNForTokenClassification}
KINDS = ["rnn", "cnn", "ann"]


def make(kind: str, token: bool = False):
    torch.manual_seed(0)
    return (TOKEN if token else SEQUENCE)[kind](tiny_config(kind)).eval()


def batch(seed: int = 0, length: int = T):
    gen = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, VOCAB, (BATCH, length), generator=gen)
    lengths = torch.tensor([length, length - 3, 1])
    attention_mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return input_ids * attention_mask, attention_mask


@pytest.mark.parametrize("kind", KINDS)
def test_contract_attributes(kind):
    model = make(kind)
    target = getattr(model, model._ckb_target_module)
    assert {"rnn": torch.nn.GRU, "cnn": ConvWindows, "ann": torch.nn.Module}[kind] in type(target).__mro__
    assert model._ckb_function_kind == {"rnn": "recurrent", "cnn": "window", "ann": "sequence"}[kind]
    assert model.classifier.in_features == model.config.hidden_size
    if kind == "cnn":
        assert model._ckb_window_size == model.config.max_window == 4
        assert model.config.hidden_size == 15


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("token", [False, True])
def test_shapes_and_loss(kind, token):
    model = make(kind, token)
    input_ids, attention_mask = batch()
    labels = torch.randint(0, LABELS, (BATCH, T) if token else (BATCH,))
    if token:
        labels[0, 0] = -100
    out = model(input_ids, attention_mask=attention_mask, labels=labels)
    assert out.logits.shape == ((BATCH, T, LABELS) if token else (BATCH, LABELS))
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert model(input_ids).loss is None  # no mask means all ones, no labels means no loss


@pytest.mark.parametrize("kind", KINDS)
def test_padding_invariance(kind):
    model = make(kind)
    input_ids, attention_mask = batch()
    extra = 4
    padded_ids = torch.cat([input_ids, torch.randint(1, VOCAB, (BATCH, extra))], dim=1)  # junk ids under mask 0
    padded_mask = torch.cat([attention_mask, torch.zeros(BATCH, extra, dtype=torch.long)], dim=1)
    with torch.no_grad():
        short = model(input_ids, attention_mask=attention_mask).logits
        long = model(padded_ids, attention_mask=padded_mask).logits
        alone = model(input_ids[:1]).logits  # the full-length example without any mask
    torch.testing.assert_close(long, short, atol=1e-5, rtol=0)
    torch.testing.assert_close(alone, short[:1], atol=1e-5, rtol=0)


def test_cnn_function_is_local_and_length_preserving():
    model = make("cnn")
    x = torch.randn(2, T, 16)
    feats = model.convs(x)
    assert feats.shape == (2, T, model.config.hidden_size)
    assert (feats >= 0).all()
    w = model._ckb_window_size
    for t in range(T):
        perturbed = x.clone()
        outside = torch.ones(T, dtype=torch.bool)
        outside[t : t + w] = False
        perturbed[:, outside] += torch.randn_like(perturbed[:, outside])
        torch.testing.assert_close(model.convs(perturbed)[:, t], feats[:, t])


def test_cnn_window_order_and_end_padding():
    model = make("cnn")
    x = torch.randn(1, T, 16)
    feats = model.convs(x)  # (1, T, 3 * 5)
    for i, (w, conv) in enumerate(zip([2, 3, 4], model.convs.filters)):
        padded = torch.cat([x, x.new_zeros(1, w - 1, 16)], dim=1)  # zero rows at the end only
        for t in (0, T - 1):
            expected = torch.relu(conv(padded[:, t : t + w].transpose(1, 2)))[..., 0]  # (1, 5)
            torch.testing.assert_close(feats[:, t, 5 * i : 5 * (i + 1)], expected)


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_auto_from_pretrained(kind, tmp_path):
    model = make(kind)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is SEQUENCE[kind]
    input_ids, attention_mask = batch()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(input_ids, attention_mask=attention_mask).logits,
            model(input_ids, attention_mask=attention_mask).logits,
            atol=0,
            rtol=0,
        )
    token_model = AutoModelForTokenClassification.from_config(loaded.config)
    assert type(token_model) is TOKEN[kind]


def fields_of(config) -> dict:
    return {key: value for key, value in config.to_dict().items() if key != "_name_or_path"}


@pytest.mark.parametrize("kind", KINDS)
def test_auto_config_round_trip(kind, tmp_path):
    config = tiny_config(kind)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded) is type(config)
    assert fields_of(loaded) == fields_of(config)
    assert loaded.num_labels == LABELS


def test_from_config_and_init():
    model = AutoModelForSequenceClassification.from_config(tiny_config("rnn"))
    assert type(model) is RNNForSequenceClassification
    assert torch.all(model.embeddings.weight[0] == 0)  # padding row
    bound = 1.0 / 16**0.5
    assert all(p.abs().max() <= bound for p in model.gru.parameters())
    assert model.classifier.bias.abs().max() == 0


def test_ann_heads_must_divide_hidden():
    with pytest.raises(ValueError, match="divisible"):
        ANNConfig(hidden_size=10, num_attention_heads=4)


def test_cnn_window_sizes_default_is_a_fresh_list():
    first, second = CNNConfig(), CNNConfig()
    assert first.window_sizes == [3, 4, 5] and first.window_sizes is not second.window_sizes
    assert CNNConfig(window_sizes=(2, 5)).window_sizes == [2, 5]
    with pytest.raises(ValueError):
        CNNConfig(window_sizes=[])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("token", [False, True])
def test_gradients_reach_every_parameter(kind, token):
    model = make(kind, token).train()
    input_ids, attention_mask = batch(seed=1)
    labels = torch.randint(0, LABELS, (BATCH, T) if token else (BATCH,))
    model(input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
