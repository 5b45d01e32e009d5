"""A network that arrives later, anchored to what the store holds (`hf_ckb.knowledge.newcomer`)."""

import pytest
import torch

from hf_ckb import CKBConfig, CKBModel, InterfaceConfig, InterfaceModel
from hf_ckb.knowledge import adopt_interface, copy_input_embeddings, warm_start_reader

from conftest import VOCAB, build_host

STORE = dict(num_low_level=4, low_level_size=16, high_level_size=8, hidden_size=16)  # 64 slots = 8^2 keys


def wrapped(kind: str, ckb: CKBModel, design: str = "sparse", seed: int = 0) -> InterfaceModel:
    torch.manual_seed(seed)
    return InterfaceModel(build_host(kind, seed), ckb, InterfaceConfig(design=design, num_heads=2, top_k=3))


def only_block(net: InterfaceModel):
    (layer,) = net.interface_layers()
    return next(iter(layer.interfaces.values()))


@pytest.fixture
def ckb():
    torch.manual_seed(0)
    return CKBModel(CKBConfig(**STORE)).eval()


def test_copy_input_embeddings_makes_the_word_embeddings_equal():
    source, target = build_host("rnn", 0), build_host("cnn", 1)
    assert not torch.equal(source.get_input_embeddings().weight, target.get_input_embeddings().weight)
    copy_input_embeddings(target, source)
    torch.testing.assert_close(target.get_input_embeddings().weight, source.get_input_embeddings().weight)
    ann = build_host("ann", 2)
    copy_input_embeddings(ann, source)  # the ANN's word embeddings sit inside its embeddings module
    torch.testing.assert_close(ann.get_input_embeddings().weight, source.get_input_embeddings().weight)


def test_copy_input_embeddings_refuses_another_shape():
    from hf_ckb.networks import RNNConfig, RNNForSequenceClassification

    other = RNNForSequenceClassification(RNNConfig(vocab_size=VOCAB + 1, embedding_size=16, hidden_size=16))
    with pytest.raises(ValueError, match="one tokenizer"):
        copy_input_embeddings(build_host("cnn"), other)


@pytest.mark.parametrize("design", ["sparse", "memory"])
@pytest.mark.parametrize("target_kind", ["cnn", "ann"])
def test_warm_started_newcomer_reads_the_slots_the_source_reads_for_the_same_tokens(ckb, design, target_kind):
    source, target = wrapped("rnn", ckb, design, 0), wrapped(target_kind, ckb, design, 1)
    s_block, t_block = only_block(source), only_block(target)
    tokens = torch.randn(5, 16)  # five token rows of width E = 16
    source_rows = torch.cat([tokens, torch.zeros(5, 16)], dim=-1)[None]  # [x ; h_{t-1} = 0]
    blocks = t_block.query.in_features // 16  # the CNN's window of 3 tokens, the ANN's one row
    target_rows = tokens.repeat(1, blocks)[None]  # every token block of the row holds the same token
    before = t_block.query(target_rows)
    warm_start_reader(target, source)
    torch.testing.assert_close(t_block.query(target_rows), s_block.query(source_rows))
    assert not torch.allclose(before, t_block.query(target_rows))
    read = [b(rows, ckb.low_level, ckb.high_level, return_attention=True)[1]
            for b, rows in ((s_block, source_rows), (t_block, target_rows))]
    torch.testing.assert_close(read[1], read[0])  # the same slots, with the same weights


def test_warm_start_of_a_recurrent_newcomer_ignores_its_state_at_first(ckb):
    source, target = wrapped("cnn", ckb, "sparse", 0), wrapped("rnn", ckb, "sparse", 1)
    warm_start_reader(target, source)
    weight = only_block(target).query.weight
    assert torch.count_nonzero(weight[:, 16:]) == 0  # the h_{t-1} block
    window = only_block(source).query.weight
    torch.testing.assert_close(weight[:, :16], window[:, :16] + window[:, 16:32] + window[:, 32:48])


def test_warm_start_refuses_what_it_cannot_anchor(ckb):
    with pytest.raises(ValueError, match="no query map"):
        warm_start_reader(wrapped("cnn", ckb, "paper"), wrapped("rnn", ckb, "paper"))
    wide = CKBModel(CKBConfig(**dict(STORE, hidden_size=32, low_level_size=16)))
    with pytest.raises(ValueError, match="differ in width"):
        warm_start_reader(wrapped("cnn", ckb), wrapped("rnn", wide))
    two = wrapped("cnn", ckb)
    two.add_interface("second", InterfaceConfig(design="sparse", num_heads=2, top_k=3))
    with pytest.raises(ValueError, match="exactly one interface"):
        warm_start_reader(two, wrapped("rnn", ckb))


def lookup_of(kind, ckb, seed):
    torch.manual_seed(seed)
    path = "embeddings.word_embeddings" if kind == "ann" else "embeddings"
    config = InterfaceConfig(design="sparse", target_module=path, function_kind="lookup", num_heads=2, top_k=3)
    return InterfaceModel(build_host(kind, seed), ckb, config)


def test_an_adopted_lookup_gives_the_newcomer_the_embeddings_the_source_reads(ckb, token_ids):
    source, newcomer = lookup_of("rnn", ckb, 0), lookup_of("ann", ckb, 1)
    adopt_interface(newcomer, source)

    def rows(net):
        with torch.no_grad(), net.mode("import"):
            net(input_ids=token_ids)
        return net.records[0].prediction

    torch.testing.assert_close(rows(newcomer), rows(source))


def test_adopt_refuses_another_function_or_shape(ckb):
    with pytest.raises(ValueError, match="same function and design"):
        adopt_interface(wrapped("cnn", ckb), lookup_of("rnn", ckb, 0))
    wide = CKBModel(CKBConfig(**dict(STORE, hidden_size=32)))
    with pytest.raises(ValueError, match="differ in shape"):
        adopt_interface(lookup_of("cnn", ckb, 0), lookup_of("rnn", wide, 0))  # codes and slots of another width
