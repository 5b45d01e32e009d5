"""The 'sparse' interface design (`hf_ckb.interface.product_keys`): top-k reads through product keys of the CKB."""

import json

import pytest
import torch

from hf_ckb import CKBConfig, CKBModel, InterfaceConfig, InterfaceModel
from hf_ckb.interface.product_keys import ProductKeyAttention, check_store
from hf_ckb.knowledge import replaced_ckb
from hf_ckb.training import CKBTrainingModule

from conftest import build_host

STORE = dict(num_low_level=4, low_level_size=16, high_level_size=8, hidden_size=16)  # 64 slots = 8^2 keys


def store(seed=0):
    torch.manual_seed(seed)
    return CKBModel(CKBConfig(**STORE)).eval()


def block(seed=0, **kwargs):
    torch.manual_seed(seed)
    return ProductKeyAttention(6, 5, 16, num_heads=2, top_k=3, **kwargs).eval()


def test_shapes_and_what_is_read():
    ckb, x = store(), torch.randn(2, 7, 6)
    y, used = block()(x, ckb.low_level, ckb.high_level, return_attention=True)
    assert y.shape == (2, 7, 5)
    assert used.shape == (2, 7, STORE["high_level_size"] + STORE["num_low_level"])
    n_h = STORE["high_level_size"]
    torch.testing.assert_close(used[..., :n_h].sum(-1), torch.ones(2, 7))  # weight through the first sub-keys
    torch.testing.assert_close(used[..., n_h:].sum(-1), torch.ones(2, 7))  # weight from each low-level matrix


def test_each_query_reads_only_top_k_slots_per_head():
    ckb = store()
    b, x = block(), torch.randn(1, 1, 6)
    b(x, ckb.low_level, ckb.high_level).sum().backward()
    rows_touched = int((ckb.low_level.grad.flatten(0, 1).abs().sum(-1) > 0).sum())
    assert 1 <= rows_touched <= b.num_heads * b.top_k  # 2 heads x 3 slots of the 64


def test_reads_agree_with_a_dense_score_of_every_product_key():
    """The top-k found through the two halves is the top-k of the score of every one of the n_h^2 slots."""
    ckb, b, x = store(), block(), torch.randn(4, 1, 6)
    memory = b.project_memory(ckb.low_level, ckb.high_level)
    (k1, k2), values = memory["keys"], memory["values"]
    q = b.query(x).unflatten(-1, (b.num_heads, 16))
    q1, q2 = torch.nn.functional.normalize(q[..., :8], dim=-1), torch.nn.functional.normalize(q[..., 8:], dim=-1)
    dense = ((q1 @ k1.T)[..., :, None] + (q2 @ k2.T)[..., None, :]).flatten(-2)  # (N, 1, H, 64): slot i * n_h + j
    best, slots = dense.topk(b.top_k, dim=-1)
    read = torch.einsum("nthk,nthkd->ntd", torch.softmax(best, -1), values[slots])
    torch.testing.assert_close(b(x, ckb.low_level, ckb.high_level), b._output(read, x))


def test_zeroed_ckb_gives_one_output_for_every_input():
    ckb, x = store(), torch.randn(4, 3, 6)
    y = block()(x, torch.zeros_like(ckb.low_level), torch.zeros_like(ckb.high_level))
    torch.testing.assert_close(y, y[:1, :1].expand_as(y))


def test_store_shape_and_options_are_checked():
    with pytest.raises(ValueError, match="K \\* n_l = n_h\\^2"):
        check_store(10, 30, 20, 256)  # the paper's small CKB: 300 slots, 400 keys
    check_store(16, 256, 64, 64)
    with pytest.raises(ValueError, match="no feed-forward block"):
        ProductKeyAttention(6, 5, 16, intermediate_size=8)
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        InterfaceConfig(design="sparse", top_k=0)
    with pytest.raises(ValueError, match="K \\* n_l = n_h\\^2"):
        InterfaceModel(build_host("cnn"), CKBModel(CKBConfig(**dict(STORE, high_level_size=7))),
                       InterfaceConfig(design="sparse"))


@pytest.mark.parametrize("kind", ["rnn", "cnn", "ann"])
def test_sparse_design_attaches_saves_loads_and_its_knockout_collapses(kind, make_host, token_ids, tmp_path):
    ckb = store()
    model = InterfaceModel(make_host(kind), ckb, InterfaceConfig(design="sparse", top_k=4))
    assert all(isinstance(b, ProductKeyAttention) for b in model.interface_blocks())
    with torch.no_grad(), model.mode("interface"):
        expected = model(input_ids=token_ids).logits
        with replaced_ckb(ckb, "zero"):
            zeroed = model(input_ids=token_ids).logits
    assert (expected - expected[:1]).abs().max() > 1e-5
    torch.testing.assert_close(zeroed, zeroed[:1].expand_as(zeroed))  # nothing to read: one prediction for all
    model.save_pretrained(str(tmp_path))
    saved = json.loads((tmp_path / "interface_config.json").read_text())
    assert saved["design"] == "sparse" and saved["top_k"] == 4 and saved["intermediate_size"] == 0
    loaded = InterfaceModel.from_pretrained(make_host(kind), ckb, str(tmp_path))
    with torch.no_grad(), loaded.mode("interface"):
        torch.testing.assert_close(loaded(input_ids=token_ids).logits, expected)


def test_an_import_step_trains_the_read_slots_and_the_keys(make_host, token_ids):
    ckb = store()
    net = InterfaceModel(make_host("cnn"), ckb, InterfaceConfig(design="sparse", top_k=2))
    module = CKBTrainingModule(ckb, {"cnn": net}, "import").train()
    module(cnn={"input_ids": token_ids})["loss"].backward()
    assert ckb.high_level.grad.abs().sum() > 0  # the product keys learn
    touched = (ckb.low_level.grad.flatten(0, 1).abs().sum(-1) > 0).float().mean()
    assert 0 < touched < 1  # some slots, not all
