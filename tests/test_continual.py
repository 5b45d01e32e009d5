"""Growing a bundle (`hf_ckb.continual.import_into`, issue 11): a later import keeps the earlier interfaces usable,
regularisation holds their outputs, the lineage is written, and an interrupted import leaves the bundle as it was."""

import json
import os

import pytest
import torch
from datasets import Dataset

from hf_ckb import Bundle, InterfaceConfig, InterfaceModel
from hf_ckb.continual import import_into
from hf_ckb.data import tokenize_dataset, train_tokenizer
from hf_ckb.lineage import read_lineage
from hf_ckb.networks import CNNConfig, CNNForSequenceClassification, RNNConfig, RNNForSequenceClassification
from hf_ckb.pipeline import import_networks

from conftest import build_ckb, interface_fidelity

SENTENCES = ["a good film with a fine plot", "the acting was bad", "a bad plot and a good cast",
             "fine acting in a bad film", "the plot was good", "a dull and bad movie"] * 4
QUICK = dict(steps=4, eval_steps=2, batch_size=8)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A bundle `kb` holding an RNN imported alone (month 1), the data, and the CNN's size (imported in month 2)."""
    tokenizer = train_tokenizer(SENTENCES, vocab_size=60, min_frequency=1)
    data = tokenize_dataset(Dataset.from_dict({"text": SENTENCES, "label": [1, 0, 0, 1, 1, 0] * 4}), tokenizer,
                            max_length=10)
    torch.manual_seed(0)
    small = dict(vocab_size=len(tokenizer), embedding_size=16, num_labels=2)
    rnn = RNNForSequenceClassification(RNNConfig(hidden_size=16, **small)).eval()
    kb = str(tmp_path_factory.mktemp("month1") / "kb")
    # the memory design: its outputs come only from the store, so a change of the store shows in them
    import_networks({"rnn": rnn}, {"rnn": tokenizer}, {"rnn": data}, {"rnn": data}, kb, ckb=build_ckb(),
                    interface_configs={"rnn": InterfaceConfig(design="memory")}, **QUICK)
    return kb, tokenizer, data, small


def cnn(small, seed=1):
    torch.manual_seed(seed)
    return CNNForSequenceClassification(CNNConfig(window_sizes=[2, 3], num_filters=8, **small)).eval()


def later(setup, output_dir, method="regularised", **kwargs):
    kb, tokenizer, data, small = setup
    return import_into(kb, {"cnn": cnn(small)}, {"cnn": tokenizer}, {"cnn": data}, {"cnn": data}, output_dir,
                       method=method, anchor_sets={"rnn": data}, anchor_eval_sets={"rnn": data},
                       **{**QUICK, **kwargs})


def rnn_logits(bundle, tokenizer):
    batch = tokenizer(SENTENCES[:6], padding=True, return_tensors="pt")
    with torch.no_grad(), bundle.interfaces["rnn"].mode("interface"):
        return bundle.interfaces["rnn"](**batch).logits


def test_a_later_import_keeps_the_earlier_interface_and_writes_the_lineage(setup, tmp_path):
    kb = setup[0]
    first = Bundle.from_pretrained(kb)
    out = str(tmp_path / "kb2")
    later(setup, out)
    grown = Bundle.from_pretrained(out)  # every interface pairs with the grown CKB: no CKBMismatchError
    assert set(grown.interfaces) == {"rnn", "cnn"} and grown.ckb.fingerprint() != first.ckb.fingerprint()
    old, new = first.interfaces["rnn"].interface_parameters(), grown.interfaces["rnn"].interface_parameters()
    assert all(torch.equal(old[k], new[k]) for k in old)  # the earlier interface itself is not trained
    one, two = read_lineage(out)
    assert (one["method"], two["method"]) == ("joint", "regularised") and two["networks"] == ["cnn"]
    assert two["ckb_before"] == one["ckb_after"] == first.ckb.fingerprint()
    assert two["ckb_after"] == grown.ckb.fingerprint() and two["changed_rows"]["low"] > 0
    assert set(two["earlier"]["rnn"]) >= {"accuracy", "cosine", "rel_l2"}  # re-measured on the grown CKB
    assert json.load(open(os.path.join(out, "results.json")))["interfaces"]["rnn"] == two["earlier"]["rnn"]
    card = open(os.path.join(out, "README.md")).read()
    assert "## History" in card and "| 2 | cnn | regularised |" in card
    assert Bundle.from_pretrained(kb).ckb.fingerprint() == first.ckb.fingerprint()  # month 1's bundle is as it was


def test_regularisation_holds_the_earlier_outputs_where_naive_training_moves_them(setup, tmp_path):
    tokenizer = setup[1]
    before = rnn_logits(Bundle.from_pretrained(setup[0]), tokenizer)
    drift = {}
    for method in ("naive", "regularised"):
        out = str(tmp_path / method)
        later(setup, out, method, steps=30, eval_steps=30, learning_rate=1e-2, anchor_weight=1e4)
        drift[method] = float((rnn_logits(Bundle.from_pretrained(out), tokenizer) - before).pow(2).mean())
    assert drift["naive"] > 0 and drift["regularised"] < 0.25 * drift["naive"], drift  # measured: 0.08x


def test_refusals_name_what_is_wrong(setup, tmp_path):
    kb, tokenizer, data, small = setup
    out = str(tmp_path / "x")
    rnn = RNNForSequenceClassification(RNNConfig(hidden_size=16, **small))
    with pytest.raises(ValueError, match=r"already holds \['rnn'\].*replace=True"):
        import_into(kb, {"rnn": rnn}, {"rnn": tokenizer}, {"rnn": data}, {"rnn": data}, out, method="naive")
    with pytest.raises(ValueError, match=r"needs inputs of every earlier network; none for \['rnn'\]"):
        import_into(kb, {"cnn": cnn(small)}, {"cnn": tokenizer}, {"cnn": data}, {"cnn": data}, out)
    with pytest.raises(ValueError, match="would mix designs"):
        import_into(kb, {"cnn": cnn(small)}, {"cnn": tokenizer}, {"cnn": data}, {"cnn": data}, out, method="naive",
                    interface_configs={"cnn": InterfaceConfig(design="paper")})
    assert not os.path.exists(out)


def test_an_interrupted_import_into_the_same_folder_leaves_the_previous_bundle(setup, tmp_path, monkeypatch):
    import shutil

    import hf_ckb.continual as continual

    kb = str(tmp_path / "kb")
    shutil.copytree(setup[0], kb)
    fingerprint = Bundle.from_pretrained(kb).ckb.fingerprint()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(continual, "append_step", crash)  # dies while writing the grown bundle
    with pytest.raises(KeyboardInterrupt):
        later((kb, *setup[1:]), kb)
    left = Bundle.from_pretrained(kb)
    assert left.ckb.fingerprint() == fingerprint and set(left.interfaces) == {"rnn"}
    assert len(read_lineage(kb)) == 1
    monkeypatch.undo()
    later((kb, *setup[1:]), kb, method="naive")  # into its own folder: swapped in whole
    grown = Bundle.from_pretrained(kb)
    assert set(grown.interfaces) == {"rnn", "cnn"} and [s["method"] for s in read_lineage(kb)] == ["joint", "naive"]
    assert os.path.isdir(os.path.join(kb, "checkpoints", "import-cnn"))


def test_cli_grows_a_bundle_and_refuses_a_name_it_has(setup, tmp_path, capsys):
    from hf_ckb.cli import main

    kb, tokenizer, data, small = setup
    model = str(tmp_path / "cnn")
    cnn(small).save_pretrained(model)
    tokenizer.save_pretrained(model)
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(SENTENCES)))
    out = str(tmp_path / "kb2")
    argv = ["import", "--bundle", kb, "--network", f"cnn={model}", "--dataset", str(reviews), "--output-dir", out,
            "--steps", "4", "--eval-steps", "2", "--max-length", "10"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "earlier (not re-measured)" in printed and "Step 2 (regularised)" in printed
    grown = Bundle.from_pretrained(out)
    assert set(grown.interfaces) == {"rnn", "cnn"}
    assert grown.interfaces["cnn"].interface_configs["default"].design == "memory"  # the bundle's design
    assert [s["networks"] for s in read_lineage(out)] == [["rnn"], ["cnn"]]
    assert main(["import", "--bundle", out, "--network", f"cnn={model}", "--dataset", str(reviews), "--output-dir",
                 out, "--steps", "2", "--eval-steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "already holds ['cnn']" in err and "--replace" in err


@pytest.mark.parametrize("method", ["routing", "combined"])
def test_routing_updates_only_the_selected_rows(setup, tmp_path, method):
    first = Bundle.from_pretrained(setup[0]).ckb
    out = str(tmp_path / method)
    later(setup, out, method, route_fraction=0.25)
    step = read_lineage(out)[-1]
    grown = Bundle.from_pretrained(out).ckb
    K, n_l = first.low_level.shape[:2]
    assert step["routed_rows"] == {"low": round(0.25 * K * n_l), "high": round(0.25 * first.high_level.shape[0])}
    assert 0 < step["changed_rows"]["low"] <= step["routed_rows"]["low"]
    assert step["changed_rows"]["high"] <= step["routed_rows"]["high"]
    changed = (grown.low_level != first.low_level).any(-1).sum()
    assert int(changed) == step["changed_rows"]["low"]  # every other row is bit for bit as it was


def test_a_routed_import_can_start_its_rows_from_the_new_teacher(setup, tmp_path):
    kb, tokenizer, data, small = setup
    with pytest.raises(ValueError, match="method='routing' or 'combined'"):
        later(setup, str(tmp_path / "x"), "regularised", memory_bank=True)
    fidelities = {}
    for bank in (False, True):
        torch.manual_seed(3)
        newcomer = RNNForSequenceClassification(RNNConfig(hidden_size=16, **small)).eval()
        out = str(tmp_path / f"bank-{bank}")
        module = import_into(kb, {"rnn2": newcomer}, {"rnn2": tokenizer}, {"rnn2": data}, {"rnn2": data}, out,
                             method="routing", memory_bank=bank, **QUICK)
        assert read_lineage(out)[-1].get("memory_bank", False) is bank
        fidelities[bank] = interface_fidelity(module.networks["rnn2"], tokenizer, data)
    assert fidelities[True] > fidelities[False] + 0.2, fidelities  # 4 steps from prototypes vs from random rows


def test_the_anchor_replays_the_earlier_blocks_on_their_own_real_rows(setup):
    from hf_ckb.training.continual import ContinualTrainingModule, block_calls

    kb, tokenizer, _, small = setup
    bundle = Bundle.from_pretrained(kb)
    batch = tokenizer(SENTENCES[:6], padding=True, return_tensors="pt")
    ((rows, options, answers),) = block_calls(bundle.interfaces["rnn"], **batch)
    assert len(rows) == len(answers) == int(batch["attention_mask"].sum())  # one row per real step, no padding
    new = {"cnn": InterfaceModel(cnn(small), bundle.ckb, InterfaceConfig(design="memory"))}
    module = ContinualTrainingModule(bundle.ckb, new, {"rnn": bundle.interfaces["rnn"]}, 1e4)
    assert float(module._drift("rnn", **batch)) < 1e-10  # the CKB as it was: nothing has drifted
    with torch.no_grad():
        bundle.ckb.low_level.add_(0.05 * torch.randn_like(bundle.ckb.low_level))
    drift = module._drift("rnn", **batch)
    drift.backward()
    assert float(drift) > 1e-3 and float(bundle.ckb.low_level.grad.abs().sum()) > 0  # it pulls the CKB back


def test_routing_prefers_rows_the_new_network_needs_and_the_earlier_ones_use_least():
    from hf_ckb.training.routing import select_rows

    need = {"low": torch.tensor([[1.0, 4.0, 4.0, 1.0]]), "high": torch.tensor([2.0, 1.0])}
    use = {"low": torch.tensor([[1.0, 1.0, 8.0, 1.0]]), "high": torch.tensor([1.0, 1.0])}
    masks = select_rows(need, use, 0.25)
    assert masks["low"].tolist() == [[False, True, False, False]] and masks["high"].tolist() == [True, False]
    with pytest.raises(ValueError, match="fraction"):
        select_rows(need, None, 0.0)
