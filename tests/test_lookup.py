"""The 'lookup' function kind (`hf_ckb.interface.layer.LookupInterfaceLayer`): a network's word embeddings imitated
through the store, read from a fixed code of each token id."""

import json

import pytest
import torch

from hf_ckb import CKBConfig, CKBModel, InterfaceConfig, InterfaceModel
from hf_ckb.interface.layer import LookupInterfaceLayer
from hf_ckb.knowledge import replaced_ckb, warm_start_reader
from hf_ckb.training import CKBTrainingModule

from conftest import VOCAB, build_host

STORE = dict(num_low_level=4, low_level_size=16, high_level_size=8, hidden_size=16)  # 64 slots = 8^2 keys
PATHS = {"rnn": "embeddings", "cnn": "embeddings", "ann": "embeddings.word_embeddings"}


def store(seed=0):
    torch.manual_seed(seed)
    return CKBModel(CKBConfig(**STORE)).eval()


def lookup(kind, ckb, design="sparse", seed=0):
    torch.manual_seed(seed)
    config = InterfaceConfig(design=design, target_module=PATHS[kind], function_kind="lookup", num_heads=2, top_k=3)
    return InterfaceModel(build_host(kind, seed), ckb, config)


def wrapper(net):
    (layer,) = net.interface_layers()
    return layer


@pytest.mark.parametrize("kind", ["rnn", "cnn", "ann"])
@pytest.mark.parametrize("design", ["sparse", "memory"])
def test_lookup_imitates_the_word_embeddings_and_saves_and_loads(kind, design, token_ids, tmp_path):
    ckb = store()
    net = lookup(kind, ckb, design)
    layer = wrapper(net)
    assert isinstance(layer, LookupInterfaceLayer) and layer.codes.shape == (VOCAB, STORE["hidden_size"])
    config = net.interface_configs[next(iter(net.interface_configs))]
    assert (config.in_features, config.out_features) == (STORE["hidden_size"], 16)
    with net.mode("import"):
        net(input_ids=token_ids)
    (record,) = net.records
    assert record.prediction.shape == record.target.shape == (*token_ids.shape, 16)
    torch.testing.assert_close(record.target, layer.base_layer(token_ids))  # the host's own embeddings
    with net.mode("interface"):
        expected = net(input_ids=token_ids).logits
    net.save_pretrained(str(tmp_path))
    assert json.loads((tmp_path / "interface_config.json").read_text())["function_kind"] == "lookup"
    loaded = InterfaceModel.from_pretrained(build_host(kind, 0), ckb, str(tmp_path))
    torch.testing.assert_close(wrapper(loaded).codes, layer.codes)  # rebuilt, not saved: the same in every process
    with loaded.mode("interface"):
        torch.testing.assert_close(loaded(input_ids=token_ids).logits, expected)
    with replaced_ckb(ckb, "zero"), loaded.mode("interface"):
        assert not torch.allclose(loaded(input_ids=token_ids).logits, expected)  # the embeddings come from the store


def test_every_network_of_one_tokenizer_reads_the_same_code_for_a_token(token_ids):
    ckb = store()
    codes = [wrapper(lookup(kind, ckb, seed=seed)).codes for seed, kind in enumerate(("rnn", "cnn", "ann"))]
    torch.testing.assert_close(codes[1], codes[0])
    torch.testing.assert_close(codes[2], codes[0])


def test_zeroed_store_gives_every_token_one_embedding(token_ids):
    ckb = store()
    net = lookup("cnn", ckb)
    with replaced_ckb(ckb, "zero"), torch.no_grad(), net.mode("import"):
        net(input_ids=token_ids)
    rows = net.records[0].prediction.flatten(0, 1)
    torch.testing.assert_close(rows, rows[:1].expand_as(rows))


def test_lookup_refuses_a_module_that_is_not_an_embedding():
    with pytest.raises(ValueError, match="imitates an nn.Embedding"):
        InterfaceModel(build_host("cnn"), store(), InterfaceConfig(design="sparse", target_module="convs",
                                                                   function_kind="lookup"))


def test_a_warm_started_newcomer_reads_the_slots_its_source_reads(token_ids):
    ckb = store()
    source, newcomer = lookup("rnn", ckb, seed=0), lookup("cnn", ckb, seed=1)
    warm_start_reader(newcomer, source)
    codes = wrapper(source).codes[token_ids]
    reads = [next(iter(wrapper(n).interfaces.values()))(codes, ckb.low_level, ckb.high_level,
                                                        return_attention=True)[1] for n in (source, newcomer)]
    torch.testing.assert_close(reads[1], reads[0])


def test_an_import_step_with_the_teacher_cache_trains_the_store(token_ids):
    ckb = store()
    net = lookup("rnn", ckb)
    module = CKBTrainingModule(ckb, {"rnn": net}, "import")
    module.enable_teacher_cache(1 << 20)  # a lookup is not cached (its input is token ids), and does not fail
    before = ckb.low_level.detach().clone()
    loss = module(rnn={"input_ids": token_ids, "attention_mask": torch.ones_like(token_ids),
                       "index": torch.arange(3)})["loss"]
    loss.backward()
    torch.optim.SGD(module.parameters(), lr=1.0).step()
    assert torch.isfinite(loss) and not torch.equal(ckb.low_level, before)


@pytest.mark.parametrize("kind", ["rnn", "ann"])
def test_a_lookup_exports_exactly_without_training(kind, token_ids, tiny_tokenizer, make_token_dataset, tmp_path):
    from hf_ckb.pipeline import evaluate_export, export_network

    ckb = store()
    net = lookup(kind, ckb, design="memory")
    data = make_token_dataset(8, 0, labels=True)
    exported = export_network(net, kind, tiny_tokenizer, data, data, str(tmp_path), steps=5, eval_steps=5)
    assert not (tmp_path / "checkpoints").exists()  # read once per token id, not trained
    assert (tmp_path / "exported" / kind / "config.json").is_file()
    with torch.no_grad(), net.mode("interface"):
        expected = net(input_ids=token_ids).logits
    torch.testing.assert_close(exported(input_ids=token_ids).logits, expected)
    assert evaluate_export(net, exported, kind, tiny_tokenizer, data)["cosine"] > 0.9999
