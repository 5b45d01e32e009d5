"""The `hf-ckb` command line, run in-process through `main([...])` on a tiny CSV dataset (and once as a process).

One module-scoped flow (finetune an RNN, import it, export it) feeds the tests of the later commands and of the
errors, so that each costly step runs once.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from hf_ckb.cli import main

COMMANDS = ("quickstart", "finetune", "import", "export", "evaluate")
POSITIVE = ["a lovely warm story", "great fun film", "brilliant acting and a smart script", "a joyful delight"]
NEGATIVE = ["a boring dull mess", "a tedious waste of time", "awful acting and a bad script", "a painful bore"]
TINY_CKB = ["--num-low-level", "2", "--low-level-size", "4", "--high-level-size", "3", "--ckb-hidden-size", "16"]
TRAIN_FAST = ["--steps", "4", "--eval-steps", "2", "--batch-size", "8", "--max-length", "16"]


def write_split(path, rows: int, text_column: str = "text") -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([text_column, "label"])
        for i in range(rows):
            texts, label = (POSITIVE, "pos") if i % 2 else (NEGATIVE, "neg")
            writer.writerow([f"{texts[(i // 2) % len(texts)]} {['indeed', 'overall', 'really'][i % 3]}", label])


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """Data folder (train/validation/test CSVs) -> finetuned RNN -> import -> export, each through `main`."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    data.mkdir()
    for split, rows in (("train", 40), ("validation", 12), ("test", 12)):
        write_split(data / f"{split}.csv", rows)
    rnn, kb, exported = root / "models" / "rnn", root / "kb", root / "exported"
    codes = {
        "finetune": main(["finetune", "--architecture", "rnn", "--dataset", str(data), "--output-dir", str(rnn),
                          "--epochs", "1", "--vocab-size", "200", "--max-length", "16", "--batch-size", "16"]),
        "import": main(["import", "--network", f"rnn={rnn}", "--dataset", str(data), "--output-dir", str(kb),
                        *TINY_CKB, *TRAIN_FAST]),
        "export": main(["export", "--import-dir", str(kb), "--network", f"rnn={rnn}", "--dataset", f"rnn={data}",
                        "--output-dir", str(exported), *TRAIN_FAST]),
    }
    return {"root": root, "data": data, "rnn": rnn, "kb": kb, "exported": exported, "codes": codes}


# ------------------------------------------------------------------------------------------------------ help
def test_help_as_a_process():
    result = subprocess.run([sys.executable, "-m", "hf_ckb.cli", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout
    assert "hf-ckb finetune --architecture rnn" in result.stdout  # the flow in the epilog


@pytest.mark.parametrize("command, options", [
    ("quickstart", ["--output-dir", "--finetune-epochs", "--import-steps", "--export-steps", "--seed", "--limit"]),
    ("finetune", ["--architecture", "--model", "--dataset", "--text-column", "--label-column", "--tokenizer",
                  "--vocab-size", "--max-length", "--output-dir", "--epochs", "--learning-rate", "--batch-size"]),
    ("import", ["--network", "--dataset", "--output-dir", "--ckb", "--num-low-level", "--low-level-size",
                "--high-level-size", "--ckb-hidden-size", "--steps", "--loss", "--eval-steps", "--resume"]),
    ("export", ["--import-dir", "--network", "--dataset", "--output-dir", "--steps", "--resume",
                "--allow-ckb-mismatch"]),
    ("evaluate", ["--model", "--import-dir", "--network-name", "--dataset", "--split", "--json"]),
])
def test_every_command_explains_itself(capsys, command, options):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out
    assert "examples:" in out and f"hf-ckb {command}" in out.split("examples:")[1]
    assert "Writes" in out or "writes" in out  # what the command leaves on disk


# ------------------------------------------------------------------------------------------------------ flow
def test_finetune_saves_a_loadable_model_with_its_tokenizer(flow):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    assert flow["codes"]["finetune"] == 0
    model = AutoModelForSequenceClassification.from_pretrained(flow["rnn"])
    assert model.config.model_type == "ckb_rnn" and model.config.num_labels == 2
    assert model.config.id2label == {0: "neg", 1: "pos"}  # string labels became a ClassLabel
    tokenizer = AutoTokenizer.from_pretrained(flow["rnn"])
    assert len(tokenizer) == model.config.vocab_size
    metrics = json.loads((flow["rnn"] / "finetune_metrics.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1


def test_import_writes_ckb_and_interfaces_and_prints_the_table(flow):
    from hf_ckb import CKBModel

    assert flow["codes"]["import"] == 0
    kb = flow["kb"]
    assert (kb / "ckb" / "config.json").is_file()
    assert (kb / "interfaces" / "rnn" / "interface_config.json").is_file()
    assert CKBModel.from_pretrained(kb / "ckb").config.num_low_level == 2
    metrics = json.loads((kb / "import_metrics.json").read_text())
    validation = metrics["rnn"]["validation"]
    assert {"cosine", "rel_l2", "accuracy"} <= set(validation)
    assert 0 <= validation["accuracy"] <= 1 and -1 <= validation["cosine"] <= 1


def test_export_writes_a_standalone_network(flow):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    assert flow["codes"]["export"] == 0
    saved = flow["exported"] / "networks" / "rnn"
    assert (saved / "config.json").is_file()
    model = AutoModelForSequenceClassification.from_pretrained(saved)
    assert type(model).__name__ == "RNNForSequenceClassification"
    assert not any(".interfaces." in name for name, _ in model.named_parameters())
    AutoTokenizer.from_pretrained(saved)  # saved next to it: the network loads on its own
    metrics = json.loads((flow["exported"] / "export_metrics.json").read_text())
    assert metrics["split"] == "test" and 0 <= metrics["exported_accuracy"] <= 1


def test_evaluate_json(flow, capsys):
    code, out, _ = run_cli(capsys, "evaluate", "--model", flow["exported"] / "networks" / "rnn",
                           "--dataset", flow["data"], "--json")
    assert code == 0
    result = json.loads(out)
    assert result["split"] == "test" and result["examples"] == 12
    assert 0 <= result["accuracy"] <= 1


def test_evaluate_through_the_ckb_table_and_json(flow, capsys):
    args = ["evaluate", "--model", flow["rnn"], "--import-dir", flow["kb"], "--dataset", flow["data"],
            "--split", "validation"]
    code, out, _ = run_cli(capsys, *args, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["network_name"] == "rnn"  # the only interface there
    assert 0 <= result["ckb_backed_accuracy"] <= 1 and result["rel_l2"] >= 0
    saved = json.loads((flow["kb"] / "import_metrics.json").read_text())["rnn"]["validation"]
    assert result["ckb_backed_accuracy"] == pytest.approx(saved["accuracy"])  # same checkpoint, same split
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "CKB-backed acc" in out.splitlines()[0]


# ------------------------------------------------------------------------------------------------------ errors
def assert_fails(capsys, argv, *fragments):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hf-ckb: error:") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in last, last


def test_missing_model_dir(flow, capsys):
    missing = flow["root"] / "no-such-model"
    assert_fails(capsys, ["evaluate", "--model", missing, "--dataset", flow["data"]], str(missing), "no such")


def test_missing_column_is_named(flow, capsys):
    assert_fails(capsys, ["evaluate", "--model", flow["rnn"], "--dataset", flow["data"], "--text-column", "review"],
                 "'review'", "--text-column")


def test_empty_dataset(flow, capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    assert_fails(capsys, ["finetune", "--architecture", "rnn", "--dataset", empty, "--output-dir", tmp_path / "m"],
                 "no rows")


@pytest.mark.parametrize("network", ["rnn", "=models/rnn", "rnn=", "a/b=models/rnn"])
def test_malformed_name_value(flow, capsys, tmp_path, network):
    assert_fails(capsys, ["import", "--network", network, "--dataset", flow["data"], "--output-dir", tmp_path],
                 "NAME=VALUE", repr(network))


def test_dataset_name_without_network(flow, capsys, tmp_path):
    assert_fails(capsys, ["import", "--network", f"rnn={flow['rnn']}", "--dataset", f"cnn={flow['data']}",
                          "--output-dir", tmp_path], "'cnn'", "matches no --network")


def test_network_without_dataset(flow, capsys, tmp_path):
    assert_fails(capsys, ["import", "--network", f"rnn={flow['rnn']}", "--network", f"cnn={flow['rnn']}",
                          "--dataset", f"rnn={flow['data']}", "--output-dir", tmp_path], "'cnn'")


def test_resume_without_checkpoint(flow, capsys, tmp_path):
    assert_fails(capsys, ["import", "--network", f"rnn={flow['rnn']}", "--dataset", flow["data"],
                          "--output-dir", tmp_path / "fresh", "--resume"], "--resume", "no checkpoint")


def test_ckb_mismatch_suggests_the_flag(flow, capsys, tmp_path):
    stale = tmp_path / "kb"
    shutil.copytree(flow["kb"], stale, ignore=shutil.ignore_patterns("checkpoint-*"))
    config_path = stale / "interfaces" / "rnn" / "interface_config.json"
    config = json.loads(config_path.read_text())
    config["ckb_fingerprint"] = "0" * 16  # trained against another CKB
    config_path.write_text(json.dumps(config))
    argv = ["export", "--import-dir", stale, "--network", f"rnn={flow['rnn']}", "--dataset", flow["data"],
            "--output-dir", tmp_path / "out", *TRAIN_FAST]
    assert_fails(capsys, argv, "--allow-ckb-mismatch")
    assert not (tmp_path / "out" / "networks").exists()
    code, out, _ = run_cli(capsys, "evaluate", "--model", flow["rnn"], "--import-dir", stale, "--dataset",
                           flow["data"], "--json", "--allow-ckb-mismatch")
    assert code == 0 and "ckb_backed_accuracy" in json.loads(out)


def test_nan_loss_stops_with_one_line(flow, capsys, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(flow["rnn"])
    with torch.no_grad():
        for param in model.parameters():
            param.fill_(float("nan"))
    broken = tmp_path / "nan-rnn"
    model.save_pretrained(broken)
    for name in os.listdir(flow["rnn"]):
        if name.startswith("tokenizer"):
            shutil.copy(flow["rnn"] / name, broken / name)
    assert_fails(capsys, ["import", "--network", f"rnn={broken}", "--dataset", flow["data"], "--output-dir",
                          tmp_path / "kb", *TINY_CKB, *TRAIN_FAST], "Non-finite loss", "--learning-rate")
