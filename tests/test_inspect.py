"""Knowledge accounting: what an interface reads in the CKB (`hf_ckb.interface.reads`) and `hf_ckb.inspect`."""

import json
import os

import pytest
import torch

import hf_ckb
from hf_ckb import Bundle, InterfaceConfig, InterfaceModel
from hf_ckb.interface.attention import CKBAttention
from hf_ckb.interface.memory import MemoryAttention
from hf_ckb.interface.product_keys import ProductKeyAttention
from hf_ckb.interface.reads import SlotReads
from hf_ckb.knowledge import recording_reads, replaced_ckb

# ----------------------------------------------------------------------------------------------- reads


def _read(block, x, ckb, **kwargs):
    reads = SlotReads()
    block.eval()(x, ckb.low_level, ckb.high_level, reads=reads, **kwargs)
    return reads


@pytest.mark.parametrize("block_class", [MemoryAttention, CKBAttention])
def test_reads_are_the_blocks_attention_weights(block_class, tiny_ckb):
    torch.manual_seed(0)
    block, x = block_class(6, 5, 16, num_heads=4), torch.randn(2, 7, 6)
    reads = _read(block, x, tiny_ckb)
    K, n_l = tiny_ckb.low_level.shape[:2]
    assert reads.rows == 14 and reads.low.shape == (K, n_l) and reads.high.shape == (tiny_ckb.high_level.shape[0],)
    _, probs = block(x, tiny_ckb.low_level, tiny_ckb.high_level, return_attention=True)
    torch.testing.assert_close(reads.high.float(), probs[..., :-K].sum((0, 1)))  # the high rows' part of the read
    share = reads.ckb_share / reads.rows
    if block_class is MemoryAttention:  # reads only the CKB: each matrix's softmax sums to 1 per row
        torch.testing.assert_close(reads.low.sum(-1), torch.full((K,), 14.0, dtype=torch.float64))
        assert share == pytest.approx(1.0)
    else:  # part of each read goes to the block's own input rows
        assert (reads.low.sum(-1) < 14).all() and 0 < share < 1
    summary = reads.summary()
    assert 1 <= summary["low"]["effective_slots"] <= K * n_l and 0 <= summary["high"]["fraction_read"] <= 1
    assert reads.profile().shape == (K * n_l + tiny_ckb.high_level.shape[0],)


def test_sparse_reads_count_the_selected_slots_only():
    from hf_ckb import CKBConfig, CKBModel

    torch.manual_seed(0)
    ckb = CKBModel(CKBConfig(num_low_level=4, low_level_size=16, high_level_size=8, hidden_size=16))
    block = ProductKeyAttention(6, 5, 16, num_heads=2, top_k=2)
    reads = _read(block, torch.randn(3, 4, 6), ckb)
    assert reads.rows == 12 and reads.low.sum() == pytest.approx(12.0)  # one softmax over the top-k per head
    assert int((reads.low > 0).sum()) <= 12 * 2 * 2  # at most k slots per head per row
    assert reads.summary()["low"]["fraction_read"] < 1


def test_import_mode_records_real_positions_only(make_host, make_ckb, token_ids):
    net = InterfaceModel(make_host("cnn"), make_ckb(), InterfaceConfig(design="memory"))
    mask = torch.ones_like(token_ids)
    mask[0, 2:] = 0
    with recording_reads(net) as reads, torch.no_grad():
        with net.mode("interface"):
            net(input_ids=token_ids, attention_mask=mask)
        assert reads == {}  # only import-mode forwards count
        with net.mode("import"):
            net(input_ids=token_ids, attention_mask=mask)
    assert net.context.reads is None
    assert reads["default"].rows == len(net.interface_layers()) * int(mask.sum())


def test_reads_without_any_row_are_an_error():
    with pytest.raises(ValueError, match="No reads were recorded"):
        SlotReads().summary()


# ----------------------------------------------------------------------------------------------- inspect


def _dataset(tokenizer, n=48, seed=0):
    from datasets import Dataset

    from hf_ckb.data import tokenize_dataset

    generator = torch.Generator().manual_seed(seed)
    words = ["good", "bad", "fine", "great", "awful", "film", "plot", "a", "the", "very"]
    texts = [" ".join(words[int(i)] for i in torch.randint(0, len(words), (6,), generator=generator))
             for _ in range(n)]
    labels = [int("good" in t or "great" in t) for t in texts]
    return tokenize_dataset(Dataset.from_dict({"text": texts, "label": labels}), tokenizer, max_length=12)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A bundle of a CNN imported for a few steps through a 'memory' interface and an RNN through the paper's."""
    from hf_ckb.networks import CNNConfig, CNNForSequenceClassification, RNNConfig, RNNForSequenceClassification
    from hf_ckb.pipeline import import_networks
    from tests.conftest import build_ckb, build_tokenizer

    tokenizer = build_tokenizer()
    data = _dataset(tokenizer)
    torch.manual_seed(0)
    hosts = {"cnn": CNNForSequenceClassification(CNNConfig(vocab_size=len(tokenizer), embedding_size=16,
                                                           window_sizes=[2], num_filters=8, num_labels=2)),
             "rnn": RNNForSequenceClassification(RNNConfig(vocab_size=len(tokenizer), embedding_size=16,
                                                           hidden_size=16, num_labels=2))}
    path = str(tmp_path_factory.mktemp("bundle"))
    import_networks(hosts, {n: tokenizer for n in hosts}, {n: data for n in hosts}, {n: data for n in hosts}, path,
                    ckb=build_ckb(), interface_configs={"cnn": InterfaceConfig(design="memory"),
                                                        "rnn": InterfaceConfig()},
                    steps=60, eval_steps=60, batch_size=16)
    return path, data


def test_inspect_reports_dependence_reads_and_overlap_and_writes_plots(imported):
    path, data = imported
    before = Bundle.from_pretrained(path).ckb.fingerprint()
    report = hf_ckb.inspect(path, data, batch_size=16, progress=False)
    cnn, rnn = report["interfaces"]["cnn"], report["interfaces"]["rnn"]
    assert (cnn["design"], rnn["design"]) == ("memory", "paper") and report["skipped"] == {}
    assert cnn["examples"] == len(data) and set(cnn["knockout"]) == {"imported", "zero", "random"}
    assert cnn["reads"]["ckb_share"] == pytest.approx(1.0) and 0 < rnn["reads"]["ckb_share"] < 1
    # a zeroed CKB leaves the memory design one output for every input: its fidelity to the host goes
    assert cnn["uses_ckb"] and cnn["fidelity_drop"]["zero"] > 0.05
    assert -1 <= report["overlap"]["cnn|rnn"] <= 1 and len(report["profiles"]["cnn"]) == 3 * 4 + 5
    assert Bundle.from_pretrained(path).ckb.fingerprint() == before  # the knockout put the CKB back
    folder = os.path.join(path, "inspect")
    assert json.load(open(os.path.join(folder, "inspect.json"))) == json.loads(json.dumps(report))
    for plot in ("knockout.png", "reads.png"):
        with open(os.path.join(folder, plot), "rb") as f:
            content = f.read()
        assert content.startswith(b"\x89PNG") and len(content) > 5000
    card = open(os.path.join(path, "README.md")).read()
    assert "## What is in the store" in card and "![Knockout](inspect/knockout.png)" in card
    assert "| cnn | memory |" in card and "cnn & rnn" in card


def test_inspect_says_when_the_ckb_is_not_used(imported):
    path, data = imported
    bundle = Bundle.from_pretrained(path)
    with replaced_ckb(bundle.ckb, "zero"):  # a knocked-out store: zeroing or redrawing it changes nothing
        report = hf_ckb.inspect(bundle, data, batch_size=16, write=False, progress=False)
    assert report["ckb"]["std"] == {"low": 0.0, "high": 0.0}
    for entry in report["interfaces"].values():
        assert not entry["uses_ckb"] and entry["accuracy_drop"] == {"zero": 0.0, "random": 0.0}


def test_inspect_skips_what_it_cannot_run_and_says_why(imported, tmp_path):
    import shutil

    path, data = imported
    copy = str(tmp_path / "bundle")
    shutil.copytree(path, copy, ignore=shutil.ignore_patterns("checkpoints", "inspect"))
    shutil.rmtree(os.path.join(copy, "hosts", "rnn"))
    report = hf_ckb.inspect(copy, data, batch_size=16, progress=False)
    assert set(report["interfaces"]) == {"cnn"} and "no host saved" in report["skipped"]["rnn"]
    assert report["overlap"] == {}
    report = hf_ckb.inspect(Bundle.from_pretrained(path), {"rnn": data}, batch_size=16, write=False, progress=False)
    assert set(report["interfaces"]) == {"rnn"} and report["skipped"] == {"cnn": "no dataset given"}
    with pytest.raises(ValueError, match="empty"):
        hf_ckb.inspect(Bundle.from_pretrained(path), data.select([]), write=False, progress=False)


def test_cli_inspect_prints_writes_and_refuses_bad_input(imported, tmp_path, capsys):
    import shutil

    from hf_ckb.cli import main

    path, data = imported
    copy = str(tmp_path / "kb")
    shutil.copytree(path, copy, ignore=shutil.ignore_patterns("checkpoints", "inspect"))
    texts = tmp_path / "reviews"
    texts.mkdir()
    rows = ["text,label"] + [f"{w} film,{int(w == 'good')}" for w in ("good", "bad", "fine", "awful") * 6]
    (texts / "test.csv").write_text("\n".join(rows) + "\n")
    assert main(["inspect", copy, "--dataset", str(texts), "--network", "cnn"]) == 0
    out = capsys.readouterr().out
    assert "cnn      memory" in out and "rnn" not in out.split("written")[0] and "written:" in out
    saved = json.load(open(os.path.join(copy, "inspect", "inspect.json")))
    assert set(saved["interfaces"]) == {"cnn"} and saved["interfaces"]["cnn"]["examples"] == 24
    assert main(["inspect", copy, "--dataset", str(texts), "--json", "--no-write", "--seed", "2"]) == 0
    assert set(json.loads(capsys.readouterr().out)["interfaces"]) == {"cnn", "rnn"}
    assert set(json.load(open(os.path.join(copy, "inspect", "inspect.json")))["interfaces"]) == {"cnn"}  # not written
    assert main(["inspect", copy, "--dataset", str(texts), "--split", "train"]) == 2
    assert "no split 'train'" in capsys.readouterr().err
    assert main(["inspect", copy, "--network", "gru", "--dataset", str(texts)]) == 2
    assert "no interface 'gru'" in capsys.readouterr().err
