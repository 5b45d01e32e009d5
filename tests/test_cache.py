"""The teacher cache of import (hf_ckb.training.cache): storage, bounds, the cached training path and its wiring into
the Trainer (ckb_training_args / CKBTrainer)."""

import pytest
import torch

from hf_ckb import get_interface_model
from hf_ckb.training import (CKBTrainer, CKBTrainingModule, JointCollator, JointDataset, ckb_training_args,
                             prepare_export)
from hf_ckb.training.cache import TeacherCache, count_tokens, estimate_bytes, row_widths


def right_padded(lengths, T):
    return (torch.arange(T)[None] < torch.tensor(lengths)[:, None]).long()


# --------------------------------------------------------------------------------------------- TeacherCache
def test_put_and_get_round_trip_unpadded_rows():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 2, generator=g)
    mask = right_padded([5, 2, 3], 5)
    cache = TeacherCache(10**6, torch.float32)
    assert cache.put_batch("a", [7, 8, 9], x, y, mask) == 3
    assert len(cache) == 3 and ("a", 8) in cache and ("b", 8) not in cache
    assert cache.nbytes == (5 + 2 + 3) * (4 + 2) * 4
    assert cache.entries[("a", 8)][0].shape == (2, 4)  # only the real rows are stored
    # a batch in another order and composition: padded to its own longest example
    xs, ys, m = cache.get_batch("a", [9, 8])
    assert xs.shape == (2, 3, 4) and ys.shape == (2, 3, 2) and m.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert torch.equal(xs[0], x[2, :3]) and torch.equal(xs[1, :2], x[1, :2]) and torch.equal(xs[1, 2], torch.zeros(4))
    assert torch.equal(ys[0], y[2, :3])
    # already stored examples are not stored twice
    assert cache.put_batch("a", [7, 10], x[:2], y[:2], mask[:2]) == 1 and len(cache) == 4


def test_low_precision_storage_rounds_within_its_precision():
    x, y = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    mask = torch.ones(2, 6, dtype=torch.long)
    for dtype, tol in ((torch.bfloat16, 2**-8), (torch.float16, 2**-11)):
        cache = TeacherCache(10**6, dtype)
        cache.put_batch("a", [0, 1], x, y, mask)
        xs, ys, _ = cache.get_batch("a", [0, 1])
        assert xs.dtype == torch.float32 and cache.entries[("a", 0)][0].dtype == dtype
        assert ((xs - x).abs() <= tol * x.abs()).all() and ((ys - y).abs() <= tol * y.abs()).all()
        assert cache.nbytes == 2 * 6 * 16 * dtype.itemsize


def test_cache_is_bounded_and_counts():
    x, y = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    mask = torch.ones(4, 3, dtype=torch.long)
    cache = TeacherCache(2 * 3 * 4 * 4 + 1, torch.float32)  # room for two examples
    assert cache.put_batch("a", [0, 1, 2, 3], x, y, mask) == 2
    assert cache.full and cache.refused == 2 and len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.put_batch("a", [4], x[:1], y[:1], mask[:1]) == 0  # full: nothing more is added
    assert cache.lookup("a", [0, 1]) and not cache.lookup("a", [0, 2])
    assert cache.stats()["hits"] == 3 and cache.stats()["misses"] == 1
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0 and not cache.full
    with pytest.raises(ValueError, match="max_bytes"):
        TeacherCache(0)
    with pytest.raises(ValueError, match="dtype"):
        TeacherCache(10, "int8")


def test_batches_that_would_not_rebuild_are_not_stored():
    x, y = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    cache = TeacherCache(10**6, torch.float32)
    assert cache.put_batch("a", [0, 1], x, y, None) == 0  # no mask
    assert cache.put_batch("a", [0, 1], x, y, torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])) == 0  # left padding
    assert cache.put_batch("a", [0, 1], x, y, torch.ones(2, 5)) == 0  # mask of another shape
    assert len(cache) == 0


def test_size_estimates(make_host, make_ckb):
    nets = {kind: get_interface_model(make_host(kind), make_ckb()) for kind in ("rnn", "cnn", "ann")}
    widths = {kind: row_widths(net.interface_configs["default"]) for kind, net in nets.items()}
    assert widths == {"rnn": (16, 16), "cnn": (16, 16), "ann": (16, 16)}  # one stored row, not the cell's/window's
    assert estimate_bytes({"rnn": 10, "cnn": 5}, widths, torch.bfloat16) == 15 * 32 * 2
    assert count_tokens([{"input_ids": [1, 2, 3]}, {"input_ids": [4]}]) == 4


# --------------------------------------------------------------------------------------------- the module
def test_dataset_items_carry_indices_through_the_collator(tiny_tokenizer, make_token_dataset):
    from transformers import DataCollatorWithPadding

    a, b = make_token_dataset(5, seed=0), make_token_dataset(3, seed=1)
    ds = JointDataset({"a": a, "b": b})
    assert ds[4]["a"]["index"] == 4 and ds[4]["b"]["index"] == 1
    pad = DataCollatorWithPadding(tiny_tokenizer)
    collate = JointCollator({"a": pad, "b": pad})
    batch = collate([ds[i] for i in (3, 4)])
    assert batch["a"]["index"].tolist() == [3, 4] and batch["b"]["index"].tolist() == [0, 1]
    assert set(batch["a"]) == {"input_ids", "attention_mask", "index"}


@pytest.mark.parametrize("kind", ["rnn", "cnn", "ann", "bert", "gpt2"])
def test_cached_step_equals_the_uncached_step(kind, make_host, make_ckb, tiny_tokenizer, make_token_dataset):
    """A batch served from a float32 cache gives the same loss and gradients as running the host, bit for bit on
    CPU; the host is not called. Several batches: a CNN returns its output as a transposed view, and a loss that
    summed it in that layout differed from the cached copy's in the last bits for some batches only."""
    from transformers import DataCollatorWithPadding

    ckb = make_ckb()
    module = CKBTrainingModule(ckb, {kind: get_interface_model(make_host(kind), ckb)})
    module.train()
    cache = module.enable_teacher_cache(10**7, torch.float32)
    params = [p for p in module.parameters() if p.requires_grad]
    calls = []
    module._cache_hooks[kind][0].base_layer.register_forward_hook(lambda *a: calls.append(1))

    def step(batch):
        loss = module(**batch)["loss"]
        return loss.detach(), torch.autograd.grad(loss, params)

    for seed in range(8):
        cache.clear()
        ds = JointDataset({kind: make_token_dataset(6, seed=seed)})
        batch = JointCollator({kind: DataCollatorWithPadding(tiny_tokenizer)})([ds[i] for i in range(6)])
        loss1, grads1 = step(batch)
        assert len(cache) == 6 and cache.hits == 0 and calls
        calls.clear()
        loss2, grads2 = step(batch)
        assert cache.hits == 6 and not calls  # served from the cache: the host's function did not run
        assert torch.equal(loss2, loss1), seed
        assert all(torch.equal(g2, g1) for g1, g2 in zip(grads1, grads2, strict=True)), seed


def test_mixed_batches_run_the_host_and_fill_the_cache(make_host, make_ckb):
    ckb = make_ckb()
    module = CKBTrainingModule(ckb, {"rnn": get_interface_model(make_host("rnn"), ckb)})
    cache = module.enable_teacher_cache(10**7)
    ids = torch.randint(2, 50, (2, 5))
    module(rnn={"input_ids": ids, "attention_mask": torch.ones_like(ids), "index": torch.tensor([0, 1])})
    module(rnn={"input_ids": ids, "attention_mask": torch.ones_like(ids), "index": torch.tensor([1, 2])})
    assert len(cache) == 3 and cache.misses == 3 and cache.hits == 1
    module(rnn={"input_ids": ids, "attention_mask": torch.ones_like(ids)})  # no indices: never cached
    assert len(cache) == 3


def test_cache_needs_import_mode_and_frozen_hosts(make_host, make_ckb):
    ckb = make_ckb()
    source = get_interface_model(make_host("rnn"), ckb)
    export = CKBTrainingModule(ckb, {"rnn": prepare_export(source)}, mode="export")
    with pytest.raises(AssertionError, match="import mode"):
        export.enable_teacher_cache(10**6)
    module = CKBTrainingModule(ckb, {"rnn": source})
    next(p for n, p in module.named_parameters() if ".base_layer." in n).requires_grad = True
    with pytest.raises(AssertionError, match="trainable host"):
        module.enable_teacher_cache(10**6)


# --------------------------------------------------------------------------------------------- the Trainer
def train(make_host, make_ckb, tokenizer, make_token_dataset, tmp_path, **cache_args):
    ckb = make_ckb()
    module = CKBTrainingModule(ckb, {k: get_interface_model(make_host(k), ckb) for k in ("rnn", "ann")})
    args = ckb_training_args(str(tmp_path), "import", max_steps=12, per_device_train_batch_size=8, disable_tqdm=True,
                             learning_rate=1e-2, seed=0, data_seed=0, use_cpu=True, logging_steps=1000, **cache_args)
    trainer = CKBTrainer(module, args, train_datasets={k: make_token_dataset(24, seed=i) for i, k in
                                                      enumerate(("rnn", "ann"))},
                         tokenizers={"rnn": tokenizer, "ann": tokenizer})
    trainer.train()
    return module


def test_trainer_caches_by_default_and_matches_an_uncached_run(tiny_tokenizer, make_host, make_ckb, tmp_path,
                                                               make_token_dataset):
    assert ckb_training_args(str(tmp_path), "import", use_cpu=True).teacher_cache_bytes > 0
    assert ckb_training_args(str(tmp_path), "export", use_cpu=True).teacher_cache_bytes == 0
    plain = train(make_host, make_ckb, tiny_tokenizer, make_token_dataset, tmp_path / "a", teacher_cache_bytes=0)
    assert plain.teacher_cache is None
    cached = train(make_host, make_ckb, tiny_tokenizer, make_token_dataset, tmp_path / "b")  # default: auto
    stats = cached.teacher_cache.stats()
    assert stats["dtype"] == "float32" and stats["examples"] == 48  # 3 batches of 8 per epoch, 4 epochs
    assert stats["hits"] == 2 * 9 * 8 and stats["misses"] == 2 * 3 * 8  # epochs 2-4 served from the cache
    for key, value in plain.trainable_state_dict().items():  # float32 storage is exact: the same run, bit for bit
        assert torch.equal(cached.trainable_state_dict()[key], value), key
    low = train(make_host, make_ckb, tiny_tokenizer, make_token_dataset, tmp_path / "c", teacher_cache_dtype="bfloat16")
    assert low.teacher_cache.stats()["dtype"] == "bfloat16"
    for key, value in plain.trainable_state_dict().items():  # bf16 targets: close, not equal
        torch.testing.assert_close(low.trainable_state_dict()[key], value, rtol=0.05, atol=2e-3, msg=key)


def test_auto_dtype_falls_back_to_bfloat16_then_off(tiny_tokenizer, make_host, make_ckb, tmp_path,
                                                    make_token_dataset):
    ckb = make_ckb()
    module = CKBTrainingModule(ckb, {"rnn": get_interface_model(make_host("rnn"), ckb)})
    data = {"rnn": make_token_dataset(10, seed=0)}
    tokens = count_tokens(data["rnn"])
    for budget, expected in ((tokens * 32 * 4, "float32"), (tokens * 32 * 2, "bfloat16"), (tokens * 32, None)):
        args = ckb_training_args(str(tmp_path), "import", use_cpu=True, teacher_cache_bytes=budget, max_steps=1)
        CKBTrainer(module, args, train_datasets=data, tokenizers={"rnn": tiny_tokenizer})
        found = None if module.teacher_cache is None else module.teacher_cache.stats()["dtype"]
        assert found == expected, budget
