"""The knockout control (`hf_ckb.knowledge`) and the 'memory' interface design (`hf_ckb.interface.memory`)."""

import json

import pytest
import torch
from transformers import DataCollatorWithPadding

from hf_ckb import InterfaceConfig, InterfaceModel
from hf_ckb.interface.attention import CKBAttention
from hf_ckb.interface.memory import MemoryAttention
from hf_ckb.knowledge import knockout, replaced_ckb
from hf_ckb.training import CKBTrainingModule

# ----------------------------------------------------------------------------------------------- the memory block


def _block(seed=0, **kwargs):
    torch.manual_seed(seed)
    return MemoryAttention(6, 5, 16, num_heads=4, **kwargs).eval()


def test_memory_block_shapes_and_attention(tiny_ckb):
    x = torch.randn(2, 7, 6)
    y, probs = _block()(x, tiny_ckb.low_level, tiny_ckb.high_level, return_attention=True)
    assert y.shape == (2, 7, 5)
    K, n_h = tiny_ckb.low_level.shape[0], tiny_ckb.high_level.shape[0]
    assert probs.shape == (2, 7, n_h + K)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 7))


def test_memory_block_rows_are_independent_and_packing_zeroes_padding(tiny_ckb):
    block, x = _block(), torch.randn(2, 7, 6)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[0, 4:] = 0
    low, high = tiny_ckb.low_level, tiny_ckb.high_level
    full = block(x, low, high)
    other = x.clone()
    other[0, 4:] = 100.0  # padded rows' contents must not reach real rows
    packed = block(other, low, high, mask=mask, pack=True)
    torch.testing.assert_close(packed[mask.bool()], full[mask.bool()])
    assert torch.all(packed[0, 4:] == 0)
    torch.testing.assert_close(block(x, low, high, mask=mask, causal=True), full)  # each row reads only the CKB


def test_memory_block_reuses_projected_memory(tiny_ckb):
    block, x = _block(), torch.randn(3, 1, 6)
    low, high = tiny_ckb.low_level, tiny_ckb.high_level
    torch.testing.assert_close(block(x, low, high, memory=block.project_memory(low, high)), block(x, low, high))


def test_zeroed_ckb_leaves_memory_block_constant_but_not_paper_block(tiny_ckb):
    x = torch.randn(4, 3, 6)
    low, high = torch.zeros_like(tiny_ckb.low_level), torch.zeros_like(tiny_ckb.high_level)
    y = _block()(x, low, high)
    torch.testing.assert_close(y, y[:1, :1].expand_as(y))  # one output for every input: nothing to read
    torch.manual_seed(0)
    paper = CKBAttention(6, 5, 16, num_heads=4).eval()(x, low, high)
    assert (paper - paper[:1, :1]).abs().max() > 1e-3  # the paper's block computes through its private path
    assert not torch.allclose(_block()(x, tiny_ckb.low_level, tiny_ckb.high_level), y)


def test_state_carry_adds_the_scaled_state_and_must_match_the_output(tiny_ckb):
    block, x = _block(carry=5), torch.randn(2, 3, 6)  # the last 5 of the 6 input features are the state
    low, high = tiny_ckb.low_level, tiny_ckb.high_level
    assert block.carry.shape == (5,) and not block.carry.any()  # starts as a pure read
    plain = block(x, low, high)
    with torch.no_grad():
        block.carry.fill_(0.5)
    torch.testing.assert_close(block(x, low, high), plain + 0.5 * x[..., 1:])
    with pytest.raises(ValueError, match="as wide as the output"):
        MemoryAttention(6, 5, 16, carry=3)


def test_memory_block_refuses_a_feed_forward_block():
    with pytest.raises(ValueError, match="intermediate_size=0"):
        MemoryAttention(6, 5, 16, intermediate_size=64)


def test_design_is_validated():
    with pytest.raises(ValueError, match="design must be one of"):
        InterfaceConfig(design="pkm")


@pytest.mark.parametrize("kind", ["rnn", "cnn", "ann"])
def test_memory_design_attaches_saves_and_loads(kind, make_host, make_ckb, token_ids, tmp_path):
    ckb = make_ckb()
    model = InterfaceModel(make_host(kind), ckb, InterfaceConfig(design="memory"))
    assert all(isinstance(b, MemoryAttention) for b in model.interface_blocks())
    with model.mode("interface"):
        expected = model(input_ids=token_ids).logits
    model.save_pretrained(str(tmp_path))
    saved = json.loads((tmp_path / "interface_config.json").read_text())
    assert saved["design"] == "memory" and saved["intermediate_size"] == 0
    loaded = InterfaceModel.from_pretrained(make_host(kind), ckb, str(tmp_path))
    assert isinstance(loaded.interface_blocks()[0], MemoryAttention)
    with loaded.mode("interface"):
        torch.testing.assert_close(loaded(input_ids=token_ids).logits, expected)


# ----------------------------------------------------------------------------------------------- knockout


def _module(make_host, make_ckb, design="memory", kind="cnn"):
    ckb = make_ckb()
    net = InterfaceModel(make_host(kind), ckb, InterfaceConfig(design=design))
    return CKBTrainingModule(ckb, {kind: net}, "import")


def test_replaced_ckb_zeroes_randomises_and_restores_bit_for_bit(make_ckb):
    ckb = make_ckb()
    before = [ckb.low_level.detach().clone(), ckb.high_level.detach().clone()]
    with replaced_ckb(ckb, "zero"):
        assert not ckb.low_level.any() and not ckb.high_level.any()
    with replaced_ckb(ckb, "random", seed=3):
        first = ckb.low_level.detach().clone()
        assert not torch.equal(first, before[0])
        assert abs(float(first.std()) - float(before[0].std())) < 0.3 * float(before[0].std())
    with replaced_ckb(ckb, "random", seed=3):
        assert torch.equal(ckb.low_level, first)  # seeded
    with pytest.raises(RuntimeError, match="boom"), replaced_ckb(ckb, "zero"):
        raise RuntimeError("boom")
    assert torch.equal(ckb.low_level, before[0]) and torch.equal(ckb.high_level, before[1])
    with pytest.raises(ValueError, match="kind must be one of"), replaced_ckb(ckb, "shuffled"):
        pass


def test_knockout_scores_every_variant_and_restores_the_ckb(make_host, make_ckb, make_token_dataset, tiny_tokenizer):
    module = _module(make_host, make_ckb)
    before = module.ckb.low_level.detach().clone()
    data = make_token_dataset(24, seed=0, labels=True)
    scores = knockout(module, "cnn", data, DataCollatorWithPadding(tiny_tokenizer), batch_size=8)
    assert set(scores) == {"imported", "zero", "random"}
    for metrics in scores.values():
        assert 0.0 <= metrics["accuracy"] <= 1.0 and -1.0 <= metrics["cosine"] <= 1.0
    assert scores["zero"]["cosine"] != scores["imported"]["cosine"]
    assert torch.equal(module.ckb.low_level, before)
    with pytest.raises(ValueError, match="No network 'rnn'"):
        knockout(module, "rnn", data, DataCollatorWithPadding(tiny_tokenizer))


@pytest.mark.parametrize("design", ["memory", "paper"])
def test_zeroing_reaches_what_the_interface_reads(design, make_host, make_ckb, token_ids):
    """With the CKB zeroed, a 'memory' interface predicts one row for every window; the paper's still varies."""
    module = _module(make_host, make_ckb, design)
    net = module.networks["cnn"]

    def predictions():
        with torch.no_grad(), net.mode("import"):
            net(input_ids=token_ids)
        return net.records[0].prediction.flatten(0, 1)  # (B * T, out)

    imported = predictions()
    with replaced_ckb(module.ckb, "zero"):
        zeroed = predictions()
    assert not torch.allclose(zeroed, imported)
    spread = (zeroed - zeroed[:1]).abs().max()
    assert (spread < 1e-5) if design == "memory" else (spread > 1e-3)


def test_zeroed_ckb_leaves_the_memory_rnn_input_independent_despite_its_carry(make_host, make_ckb, token_ids):
    """The carry path adds no input dependence: from h_0 = 0 with a zeroed CKB every sentence ends in one state."""
    module = _module(make_host, make_ckb, "memory", kind="rnn")
    net = module.networks["rnn"]
    block = net.interface_blocks()[0]
    assert block.carry is not None and block.carry.shape == (block.out_proj.out_features,)
    with torch.no_grad():
        block.carry.fill_(0.5)  # a carry in use
        with net.mode("interface"):
            imported = net(input_ids=token_ids).logits
        with replaced_ckb(module.ckb, "zero"), net.mode("interface"):
            zeroed = net(input_ids=token_ids).logits
    assert (imported - imported[:1]).abs().max() > 1e-4
    torch.testing.assert_close(zeroed, zeroed[:1].expand_as(zeroed))


@pytest.mark.slow
def test_screen_tiny_scale_writes_both_designs(tmp_path):
    from benchmarks.knowledge.screen import run

    results = run("tiny", networks=("cnn",), results_dir=str(tmp_path))
    saved = json.loads((tmp_path / "screen-tiny.json").read_text())
    assert saved["design"] == "memory" and saved["paper_design"]["design"] == "paper"
    for design in (saved, saved["paper_design"]):
        for key in ("knockout", "frozen_ckb"):
            row = design[key]["cnn"]["validation"]
            assert set(row) >= {"teacher", "ckb_backed", "zero_ckb", "random_ckb", "majority", "cos"}
        assert design["frozen_ckb"]["cnn"]["ckb_change"] < 1e-3 < design["knockout"]["cnn"]["ckb_change"]
    assert saved == json.loads(json.dumps(results))
    table = (tmp_path / "screen-tiny.md").read_text()
    assert "| memory | trained | CNN |" in table and "| paper | frozen at init | CNN |" in table


@pytest.mark.slow
def test_benchmark_tiny_scale_writes_every_section_for_both_designs(tmp_path):
    from benchmarks.knowledge.run import run
    from benchmarks.knowledge.sections import NETWORKS, SECTIONS, TRANSFERS

    results = run("tiny", sections=SECTIONS, work_dir=str(tmp_path / "runs"), results_dir=str(tmp_path))
    saved = json.loads((tmp_path / "tiny.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert saved["design"] == "memory" and saved["paper_design"]["design"] == "paper"
    for design in (saved, saved["paper_design"]):
        assert set(design["knockout"]) == set(NETWORKS) == set(design["retention"])
        for row in design["knockout"].values():
            assert {"teacher", "ckb_backed", "zero_ckb", "random_ckb", "majority"} <= set(row)
            assert all(0 <= row[k] <= 100 for k in ("ckb_backed", "zero_ckb", "random_ckb", "majority"))
        assert set(design["transfer"]) == {f"{a}->{b}" for a, b in TRANSFERS}
        assert all(len(r["imported"]) == len(r["random"]) == 1 for r in design["transfer"].values())
        assert set(design["fusion"]) == {"teacher", "control", "kd_ensemble", "ensemble", "fused"}
        assert design["capacity_default"] in design["capacity"] and len(design["capacity"]) == 2
        targets = design["targets"]
        assert "fusion: fused >= multi-teacher distillation" in targets
        assert all(t["met"] == (t["margin"] >= 0) for t in targets.values())
    # teachers, ensembles and the distilled baseline read no interface: one run serves both designs
    assert saved["fusion"]["kd_ensemble"] == saved["paper_design"]["fusion"]["kd_ensemble"]
    assert saved["knockout"]["rnn"]["teacher"] == saved["paper_design"]["knockout"]["rnn"]["teacher"]
    assert (tmp_path / "runs" / "memory" / "imports" / "rnn-s0" / "metrics.json").is_file()
    assert (tmp_path / "runs" / "imports" / "rnn-s0" / "metrics.json").is_file()
    few = saved["few_labels"]  # the memory design: every arm, one value per seed; the paper design has no query map
    assert set(few) == {f"{a}->{b}" for a, b in TRANSFERS} | {"labels"} and few["labels"] >= 1
    assert all(set(r) == {"alone", "imported", "random", "imported_fresh_reader", "imported_frozen_reader",
                          "random_frozen_reader"} and all(len(v) == 1 for v in r.values())
               for k, r in few.items() if k != "labels")
    assert "few labels rnn->cnn: imported - random >= 3" in saved["targets"]
    assert "skipped" in saved["paper_design"]["few_labels"]
    lookup = saved["lookup"]  # the store of word embeddings: knockout per network, reuse arms per transfer
    assert set(lookup["knockout"]) == set(NETWORKS)
    assert all(0 <= r[k] <= 100 for r in lookup["knockout"].values() for k in ("ckb_backed", "zero_ckb", "random_ckb"))
    assert set(lookup["reuse"]) == {f"{a}->{b}" for a, b in TRANSFERS}
    assert all(set(r) == {"scratch", "host_embeddings", "imported", "random", "distilled"}
               for r in lookup["reuse"].values())
    # the host-embeddings arm is the few-label section's `alone` run, not a second one
    assert lookup["reuse"]["rnn->cnn"]["host_embeddings"] == few["rnn->cnn"]["alone"]
    assert "lookup reuse rnn->ann: imported - random >= 3" in saved["targets"]
    capacity = saved["lookup_capacity"]  # the same newcomer through stores of the scale's capacity sizes
    assert capacity["transfer"] == "rnn->cnn" and len(capacity["sizes"]) == 2
    assert capacity["default"] in capacity["sizes"]
    # the default-size store is the reuse section's run, not a second one
    assert capacity["sizes"][capacity["default"]]["imported"] == lookup["reuse"]["rnn->cnn"]["imported"]
    assert capacity["random"] == lookup["reuse"]["rnn->cnn"]["random"]
    assert "lookup capacity: smallest >= 1 below default" in saved["targets"]
    table = (tmp_path / "tiny.md").read_text()
    assert "| memory | RNN → CNN |" in table and "multi-teacher distillation" in table
    assert "Reuse with few labels" in table and "The store of word embeddings: reuse" in table
    assert "The store of word embeddings at three sizes" in table
    images = saved["images"]  # images and text in one CKB: each network alone and joint, and their overlap
    assert set(images) == {"digits", "rnn", "overlap"} and -1 <= images["overlap"] <= 1
    for row in (images["digits"], images["rnn"]):
        assert set(row["alone"]) == set(row["joint"]) >= {"ckb_backed", "zero_ckb", "random_ckb", "exported"}
    # the RNN imported alone is the knockout and retention sections' run, not a second one
    assert images["rnn"]["alone"]["ckb_backed"] == saved["knockout"]["rnn"]["ckb_backed"]
    assert "images+text digits: joint exported within 0.5 of alone" in saved["targets"]
    assert "| memory | digits (images) | joint |" in table
    grown = saved["continual"]  # every method after every step; the main method's exports beside the joint import's
    assert set(grown["methods"]) == {"naive", "regularised", "routing", "combined"}
    for rows in grown["methods"].values():
        assert set(rows["after ann"]) == set(NETWORKS) and set(rows["after rnn"]) == {"rnn"}
        # the first step is the RNN imported alone, shared by every method and by the retention section
        assert rows["after rnn"]["rnn"]["accuracy"] == saved["retention"]["rnn"]["ckb_backed"]
        assert set(rows["seconds"]) == {"cnn", "ann"} and all(s[0] > 0 for s in rows["seconds"].values())
    assert set(grown["exported"]) == set(NETWORKS) and set(grown["first_seconds"]) == {"cnn", "ann"}
    weight = grown["anchor_weight"]  # chosen on validation among the screened weights
    assert str(int(weight["chosen"])) in weight["screen"] and set(weight["screen"]["1000"]) == {"rnn", "cnn"}
    assert "continual naive rnn: final >= right after its import - 0.5" in saved["targets"]
    assert "| memory | naive | RNN |" in table and "Growing the store: exports" in table
    bank = saved["memory_bank"]  # the memory design only: the paper design's CKB is read through projections
    assert set(bank["random"]) == set(bank["memory_bank"]) == {"accuracy", "cos", "train_seconds", "curve"}
    assert len(bank["steps_to_random_final"]) == 1 and "skipped" in saved["paper_design"]["memory_bank"]
    assert len(bank["memory_bank_half"]["curve"][0]) <= len(bank["memory_bank"]["curve"][0])  # half the steps
    assert "| memory | RNN | memory bank |" in table
