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

COMMANDS = ("quickstart", "finetune", "import", "export", "adapt", "evaluate", "inspect", "push", "pull", "convert")
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
    """Data folder (train/validation/test CSVs) -> finetuned RNN -> import into the bundle kb -> export into kb, each
    through `main`."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    data.mkdir()
    for split, rows in (("train", 40), ("validation", 12), ("test", 12)):
        write_split(data / f"{split}.csv", rows)
    rnn, kb = root / "models" / "rnn", root / "kb"
    codes = {
        "finetune": main(["finetune", "--architecture", "rnn", "--dataset", str(data), "--output-dir", str(rnn),
                          "--epochs", "1", "--vocab-size", "200", "--max-length", "16", "--batch-size", "16"]),
        "import": main(["import", "--network", f"rnn={rnn}", "--dataset", str(data), "--output-dir", str(kb),
                        *TINY_CKB, *TRAIN_FAST]),
    }
    import_results = json.loads((kb / "results.json").read_text())  # before the export adds to it
    codes["export"] = main(["export", "--bundle", str(kb), "--network", "rnn", "--dataset", f"rnn={data}",
                            *TRAIN_FAST])
    return {"root": root, "data": data, "rnn": rnn, "kb": kb, "codes": codes, "import_results": import_results}


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
    ("export", ["--bundle", "--network", "--dataset", "--output-dir", "--steps", "--resume",
                "--allow-ckb-mismatch"]),
    ("evaluate", ["--model", "--bundle", "--network", "--dataset", "--split", "--json"]),
    ("adapt", ["--bundle", "--architecture", "--dataset", "--output-dir", "--source", "--label-fraction", "--steps"]),
    ("inspect", ["--network", "--dataset", "--split", "--seed", "--no-write", "--json"]),
    ("convert", ["--output-dir", "--network", "--ckb", "--name"]),
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


def test_import_writes_a_bundle(flow):
    from hf_ckb import Bundle, CKBModel

    assert flow["codes"]["import"] == 0
    kb = flow["kb"]
    assert (kb / "config.json").is_file() and not (kb / "ckb").exists()  # the CKB at the root, nothing else
    assert (kb / "interfaces" / "rnn" / "interface_config.json").is_file()
    assert (kb / "hosts" / "rnn" / "tokenizer.json").is_file()
    assert list((kb / "checkpoints" / "import").glob("checkpoint-*"))  # the run's checkpoints, apart
    assert CKBModel.from_pretrained(kb).config.num_low_level == 2
    figures = flow["import_results"]["interfaces"]["rnn"]
    assert figures["split"] == "test" and {"cosine", "rel_l2", "accuracy", "host_accuracy"} <= set(figures)
    assert 0 <= figures["accuracy"] <= 1 and -1 <= figures["cosine"] <= 1
    assert "| rnn |" in (kb / "README.md").read_text()  # the card shows the network
    bundle = Bundle.from_pretrained(str(kb))
    assert set(bundle.interfaces) == {"rnn"} and bundle.tokenizers["rnn"] is not None


def test_import_with_the_memory_design(flow):
    from hf_ckb import Bundle
    from hf_ckb.interface.memory import MemoryAttention

    kb = flow["root"] / "kb-memory"
    assert main(["import", "--network", f"rnn={flow['rnn']}", "--dataset", str(flow["data"]), "--output-dir", str(kb),
                 "--design", "memory", *TINY_CKB, *TRAIN_FAST]) == 0
    assert json.loads((kb / "interfaces" / "rnn" / "interface_config.json").read_text())["design"] == "memory"
    assert isinstance(Bundle.from_pretrained(str(kb)).interfaces["rnn"].interface_blocks()[0], MemoryAttention)
    assert "| recurrent | memory |" in (kb / "README.md").read_text()  # the card names the design
    assert "| recurrent | paper |" in (flow["kb"] / "README.md").read_text()


def test_import_with_a_memory_bank(flow, capsys):
    common = ["import", "--network", f"rnn={flow['rnn']}", "--dataset", str(flow["data"]), "--memory-bank",
              *TINY_CKB, *TRAIN_FAST]
    code, _, err = run_cli(capsys, *common, "--output-dir", flow["root"] / "kb-bank-paper")
    assert code == 2 and "--memory-bank needs --design memory" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, *common, "--output-dir", flow["root"] / "kb-bank-grow", "--bundle", flow["kb"])
    assert code == 2 and "--method routing or --method combined" in err
    kb = flow["root"] / "kb-bank"
    code, _, err = run_cli(capsys, *common, "--output-dir", kb, "--design", "memory")
    assert code == 0, err
    assert json.loads((kb / "lineage.json").read_text())[-1]["memory_bank"] is True


def test_import_of_the_word_embeddings(flow):
    from hf_ckb import Bundle
    from hf_ckb.interface.layer import LookupInterfaceLayer

    kb = flow["root"] / "kb-words"
    assert main(["import", "--network", f"rnn={flow['rnn']}", "--dataset", str(flow["data"]), "--output-dir", str(kb),
                 "--design", "memory", "--function", "embeddings", *TINY_CKB, *TRAIN_FAST]) == 0
    saved = json.loads((kb / "interfaces" / "rnn" / "interface_config.json").read_text())
    assert (saved["target_module"], saved["function_kind"]) == ("embeddings", "lookup")
    net = Bundle.from_pretrained(str(kb)).interfaces["rnn"]
    assert isinstance(net.base_model.embeddings, LookupInterfaceLayer)
    assert "| lookup | memory |" in (kb / "README.md").read_text()


def test_import_with_the_sparse_design_checks_the_store(flow, capsys):
    from hf_ckb import Bundle
    from hf_ckb.interface.product_keys import ProductKeyAttention

    common = ["import", "--network", f"rnn={flow['rnn']}", "--dataset", str(flow["data"]), "--design", "sparse",
              *TRAIN_FAST]
    code, _, err = run_cli(capsys, *common, "--output-dir", flow["root"] / "kb-bad", *TINY_CKB)  # 8 slots, 9 keys
    assert code == 2 and "--design sparse" in err and "K * n_l = n_h^2" in err and "Traceback" not in err
    kb = flow["root"] / "kb-sparse"
    store = ["--num-low-level", "4", "--low-level-size", "4", "--high-level-size", "4", "--ckb-hidden-size", "16"]
    code, _, err = run_cli(capsys, *common, "--output-dir", kb, *store, "--top-k", "2")
    assert code == 0, err
    block = Bundle.from_pretrained(str(kb)).interfaces["rnn"].interface_blocks()[0]
    assert isinstance(block, ProductKeyAttention) and block.top_k == 2


def test_export_adds_a_standalone_network_to_the_bundle(flow):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    assert flow["codes"]["export"] == 0
    saved = flow["kb"] / "exported" / "rnn"
    model = AutoModelForSequenceClassification.from_pretrained(saved)
    assert type(model).__name__ == "RNNForSequenceClassification"
    assert not any(".interfaces." in name for name, _ in model.named_parameters())
    AutoTokenizer.from_pretrained(saved)  # saved next to it: the network loads on its own
    assert (saved / "README.md").is_file()
    results = json.loads((flow["kb"] / "results.json").read_text())
    exported = results["exported"]["rnn"]
    assert exported["split"] == "test" and 0 <= exported["accuracy"] <= 1 and exported["source_interface"] == "rnn"
    assert results["interfaces"] == flow["import_results"]["interfaces"]  # the import's figures are kept
    assert list((flow["kb"] / "checkpoints" / "export-rnn").glob("checkpoint-*"))


def test_evaluate_json(flow, capsys):
    code, out, _ = run_cli(capsys, "evaluate", "--model", flow["kb"] / "exported" / "rnn",
                           "--dataset", flow["data"], "--json")
    assert code == 0
    result = json.loads(out)
    assert result["examples"] == 12
    assert 0 <= result["accuracy"] <= 1


def test_evaluate_a_bundle_table_and_json(flow, capsys):
    args = ["evaluate", "--bundle", flow["kb"], "--dataset", flow["data"]]
    code, out, _ = run_cli(capsys, *args, "--json")
    assert code == 0
    (row,) = json.loads(out)["networks"]
    assert row["network"] == "rnn" and row["examples"] == 12
    saved = json.loads((flow["kb"] / "results.json").read_text())
    # The same weights on the same split: the figures the import and export wrote. A loaded bundle is frozen, and
    # frozen weights take other CPU kernels (last-bit differences); a 4-step tiny RNN has near-tied logits, so one
    # of the 12 examples may flip.
    one_example = 1 / row["examples"] + 1e-9
    assert abs(row["ckb_backed_accuracy"] - saved["interfaces"]["rnn"]["accuracy"]) <= one_example
    assert row["host_accuracy"] == saved["interfaces"]["rnn"]["host_accuracy"]  # the plain host: no interface
    assert abs(row["exported_accuracy"] - saved["exported"]["rnn"]["accuracy"]) <= one_example
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "ckb_backed_accuracy" in out.splitlines()[0]


def test_an_old_layout_says_how_to_convert_and_converts(flow, capsys, tmp_path):
    from hf_ckb import Bundle

    old = tmp_path / "old-import"  # what `hf-ckb import` wrote before the bundle layout
    shutil.copytree(flow["kb"] / "interfaces", old / "interfaces")
    (old / "ckb").mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(flow["kb"] / name, old / "ckb" / name)
    assert_fails(capsys, ["evaluate", "--bundle", old, "--dataset", flow["data"]], "import run", "hf-ckb convert")
    assert_fails(capsys, ["convert", old, "--output-dir", tmp_path / "new"], "--network NAME=MODEL_DIR", "rnn")
    assert not (tmp_path / "new").exists()
    code, _, err = run_cli(capsys, "convert", old, "--network", f"rnn={flow['rnn']}", "--output-dir", tmp_path / "new")
    assert code == 0, err
    converted = Bundle.from_pretrained(str(tmp_path / "new"))
    assert set(converted.interfaces) == {"rnn"}
    assert converted.ckb.fingerprint() == Bundle.from_pretrained(str(flow["kb"])).ckb.fingerprint()


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
    shutil.copytree(flow["kb"], stale, ignore=shutil.ignore_patterns("checkpoints"))
    config_path = stale / "interfaces" / "rnn" / "interface_config.json"
    config = json.loads(config_path.read_text())
    config["ckb_fingerprint"] = "0" * 16  # trained against another CKB
    config_path.write_text(json.dumps(config))
    argv = ["export", "--bundle", stale, "--network", "rnn", "--dataset", flow["data"],
            "--output-dir", tmp_path / "out", *TRAIN_FAST]
    assert_fails(capsys, argv, "--allow-ckb-mismatch")
    assert not (tmp_path / "out").exists()
    code, out, _ = run_cli(capsys, "evaluate", "--bundle", stale, "--dataset", flow["data"], "--json",
                           "--allow-ckb-mismatch")
    assert code == 0 and "ckb_backed_accuracy" in json.loads(out)["networks"][0]


def test_export_of_a_missing_interface_names_the_ones_there(flow, capsys, tmp_path):
    assert_fails(capsys, ["export", "--bundle", flow["kb"], "--network", "cnn", "--dataset", flow["data"],
                          "--output-dir", tmp_path / "out", *TRAIN_FAST], "'cnn'", "['rnn']")


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


def test_an_interface_naming_a_module_the_host_lacks(flow, capsys, tmp_path):
    broken = tmp_path / "kb"
    shutil.copytree(flow["kb"], broken, ignore=shutil.ignore_patterns("checkpoints"))
    config_path = broken / "interfaces" / "rnn" / "interface_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "target_module": "encoder.nope"}))
    assert_fails(capsys, ["evaluate", "--bundle", broken, "--dataset", flow["data"]], "'encoder.nope'")


@pytest.mark.parametrize("command", ["pull", "push"])
def test_an_unreachable_hub_is_one_line(flow, tmp_path, command):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["pull", "my-org/kb", "--output-dir", str(tmp_path / "out")] if command == "pull" else \
        ["push", str(flow["kb"]), "my-org/kb"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp_path / "hf"), HF_TOKEN="hf_" + "x" * 34)
    result = subprocess.run([sys.executable, "-m", "hf_ckb.cli", *argv], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("hf-ckb: error: cannot reach the Hub") and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
