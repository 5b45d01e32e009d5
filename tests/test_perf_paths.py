"""Each fast path of import against its straightforward reference (benchmarks/perf/baselines.py), on small inputs:
values and gradients. The fast paths are what benchmarks/perf measures; these tests say they compute the same."""

import os
import sys

import pytest
import torch

from hf_ckb import get_interface_model
from hf_ckb.interface.attention import CKBAttention, reference_attention
from hf_ckb.training import CKBTrainingModule

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "perf"))
from baselines import looped_forward, stepping_recurrent, unpacked_rows_forward  # noqa: E402

D, K, N_L, N_H = 16, 3, 4, 5


def grads_of(loss, params):
    return torch.autograd.grad(loss, params, retain_graph=True)


def trainable(net):
    """What import trains: the CKB and the interfaces (the host stays frozen)."""
    return [p for n, p in net.named_parameters() if n.startswith("ckb.") or ".interfaces." in n]


def assert_same(fast, slow, params, atol=1e-5):
    """Same values and the same gradients (of a fixed random projection of the output) w.r.t. `params`."""
    torch.testing.assert_close(fast, slow, atol=atol, rtol=1e-4)
    w = torch.randn(fast.shape, generator=torch.Generator().manual_seed(1))
    for g_fast, g_slow in zip(grads_of((fast * w).sum(), params), grads_of((slow * w).sum(), params)):
        torch.testing.assert_close(g_fast, g_slow, atol=atol, rtol=1e-4)


@pytest.mark.parametrize("shape", ["rows", "sequence", "masked", "causal"])
def test_batched_low_level_matches_a_loop_over_k(shape, make_ckb):
    torch.manual_seed(0)
    ckb = make_ckb()
    T = 1 if shape == "rows" else 6
    block = CKBAttention(12, 10, D, num_heads=2, intermediate_size=0 if shape == "rows" else 32)
    x = torch.randn(5, T, 12)
    lengths = torch.tensor([6, 4, 6, 2, 6])
    mask = (torch.arange(T) < lengths[:, None]).long() if shape == "masked" else None
    causal = shape == "causal"
    params = [*block.parameters(), ckb.low_level, ckb.high_level]
    fast = block(x, ckb.low_level, ckb.high_level, mask=mask, causal=causal)
    for hoisted in (False, True):
        slow = looped_forward(block, x, ckb.low_level, ckb.high_level, mask=mask, causal=causal, hoisted=hoisted)
        keep = slice(None) if mask is None else mask.bool()
        assert_same(fast[keep], slow[keep], params)
    naive = reference_attention(block, x, ckb.low_level, ckb.high_level, mask=mask, causal=causal)
    keep = slice(None) if mask is None else mask.bool()
    assert_same(fast[keep], naive[keep], params)


@pytest.mark.parametrize("causal", [False, True])
def test_packed_queries_of_a_sequence_interface_change_no_real_position(causal, make_ckb):
    """`pack=True` (import/export of sequence interfaces) computes only real rows' queries: the real positions and
    their gradients are those of the full computation; padded positions are zeros."""
    torch.manual_seed(0)
    ckb = make_ckb()
    block = CKBAttention(12, 10, D, num_heads=2, intermediate_size=32)
    x = torch.randn(4, 6, 12)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 1 + [0] * 5, [1] * 5 + [0]])
    params = [*block.parameters(), ckb.low_level, ckb.high_level]
    packed = block(x, ckb.low_level, ckb.high_level, mask=mask, causal=causal, pack=True)
    full = block(x, ckb.low_level, ckb.high_level, mask=mask, causal=causal)
    keep = mask.bool()
    assert torch.equal(packed[~keep], torch.zeros_like(packed[~keep]))
    assert_same(packed[keep], full[keep], params)
    # an unpadded batch takes the ordinary path
    torch.testing.assert_close(block(x, ckb.low_level, ckb.high_level, mask=torch.ones(4, 6), pack=True),
                               block(x, ckb.low_level, ckb.high_level))


def recurrent_setup(make_host, make_ckb):
    net = get_interface_model(make_host("rnn"), make_ckb())
    wrapper = net.interface_layers()[0]
    host = net.base_model
    ids = torch.randint(2, 50, (3, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x = host.embeddings(ids)
        states = host.gru.base_layer(x)[0]
    net.context.attention_mask = None
    return net, wrapper, x, states


def test_teacher_forced_recurrent_interface_matches_stepping_through_time(make_host, make_ckb):
    net, wrapper, x, states = recurrent_setup(make_host, make_ckb)
    params = trainable(net)
    assert_same(wrapper.parallel_forward((x,), {}, states), stepping_recurrent(wrapper, x, states), params)


@pytest.mark.parametrize("kind", ["rnn", "cnn"])
def test_packing_out_padded_rows_changes_no_real_position(kind, make_host, make_ckb):
    """Local interfaces compute only real positions; real positions and their gradients are as if every row ran."""
    net = get_interface_model(make_host(kind), make_ckb())
    wrapper = net.interface_layers()[0]
    torch.manual_seed(0)
    rows = torch.randn(3, 7, wrapper.interfaces["default"].in_proj.in_features)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] * 5 + [0] * 2])
    net.context.attention_mask = mask
    params = trainable(net)
    packed, full = wrapper.rows_forward(rows), unpacked_rows_forward(wrapper, rows)
    keep = mask.bool()
    assert torch.equal(packed[~keep], torch.zeros_like(packed[~keep]))
    assert_same(packed[keep], full[keep], params)
    net.context.attention_mask = None  # no mask: every row runs, the same as before
    torch.testing.assert_close(wrapper.rows_forward(rows), unpacked_rows_forward(wrapper, rows))


@pytest.mark.parametrize("kind", ["rnn", "ann"])
def test_bfloat16_cached_step_matches_the_uncached_step_to_bfloat16_precision(kind, make_host, make_ckb):
    ckb = make_ckb()
    module = CKBTrainingModule(ckb, {kind: get_interface_model(make_host(kind), ckb)})
    module.train()
    ids = torch.randint(2, 50, (4, 9), generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(9)[None] < torch.tensor([9, 5, 7, 2])[:, None]).long()
    batch = {kind: {"input_ids": ids, "attention_mask": mask, "index": torch.arange(4)}}
    params = [p for p in module.parameters() if p.requires_grad]
    cache = module.enable_teacher_cache(10**6, torch.bfloat16)
    loss = module(**batch)["loss"]
    grads = grads_of(loss, params)
    cached_loss = module(**batch)["loss"]
    assert cache.hits == 4
    cached_grads = grads_of(cached_loss, params)
    torch.testing.assert_close(cached_loss, loss, rtol=2e-2, atol=1e-3)
    for g, c in zip(grads, cached_grads):  # the error of bf16 targets (8 significant bits), not of the method
        assert float((g - c).norm()) <= 2e-2 * float(g.norm()) + 1e-6


@pytest.mark.slow
def test_compiled_interfaces_compute_the_same(make_host, make_ckb):
    """`compile_interfaces` (torch.compile, off by default) keeps values, gradients and parameter names."""
    ckb = make_ckb()
    module = CKBTrainingModule(ckb, {"ann": get_interface_model(make_host("ann"), ckb)})
    module.train()
    names = set(module.state_dict())
    ids = torch.randint(2, 50, (2, 5), generator=torch.Generator().manual_seed(0))
    params = [p for p in module.parameters() if p.requires_grad]
    loss = module(ann={"input_ids": ids})["loss"]
    grads = grads_of(loss, params)
    module.compile_interfaces()
    compiled_loss = module(ann={"input_ids": ids})["loss"]
    torch.testing.assert_close(compiled_loss, loss, rtol=1e-5, atol=1e-6)
    for g, c in zip(grads, torch.autograd.grad(compiled_loss, params)):  # compiled backward: no retain_graph
        torch.testing.assert_close(c, g, rtol=1e-4, atol=1e-6)
    assert set(module.state_dict()) == names


def test_a_recurrent_interface_on_its_own_states_stays_in_the_gru_range(make_host, make_ckb):
    """Stepping on its own states, an interface's errors feed back; a GRU's states lie in [-1, 1], and the fed-back
    state is held there (unbounded, one real review drove it to inf and the logits to NaN)."""
    net = get_interface_model(make_host("rnn"), make_ckb())
    block = net.interface_layers()[0].interfaces["default"]
    with torch.no_grad():
        block.out_proj.weight.mul_(1e3)  # an interface that amplifies its state at every step
    ids = torch.randint(2, 50, (2, 40), generator=torch.Generator().manual_seed(0))
    with net.mode("interface"):
        states = net.interface_layers()[0](net.base_model.embeddings(ids))[0]
        logits = net(input_ids=ids).logits
    assert states.abs().max() == 1.0 and torch.isfinite(logits).all()
    net.interface_layers()[0].state_bound = lambda: None  # without the bound, the same interface blows up
    with net.mode("interface"):
        assert not torch.isfinite(net(input_ids=ids).logits).all()
