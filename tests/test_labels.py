"""Labels get the class ids of the model they are for (`hf_ckb.data.align_labels`), in the library and in `hf-ckb`.

The model here names its classes like the built-in data and the quickstart teachers: 0 = rotten, 1 = fresh, the
reverse of the names' sorted order, so that a sorted mapping would invert every label.
"""

from __future__ import annotations

import csv
import json

import datasets
import pytest
import torch
from conftest import build_host
from transformers import BertConfig

from hf_ckb.cli import main
from hf_ckb.data import align_labels, load_text_dataset

NAMES = {0: "rotten", 1: "fresh"}
NAMED = BertConfig(num_labels=2, id2label=NAMES, label2id={v: k for k, v in NAMES.items()})
UNNAMED = BertConfig(num_labels=2)  # transformers' placeholders LABEL_0, LABEL_1: the model knows only ids


def dataset(labels: list, feature=None) -> datasets.DatasetDict:
    rows = {"text": [f"w{i + 2}" for i in range(len(labels))], "label": labels}
    features = None if feature is None else datasets.Features({"text": datasets.Value("string"), "label": feature})
    return datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features)})


# ------------------------------------------------------------------------------------------------ align_labels
def test_names_go_through_the_models_label2id():
    aligned = align_labels(dataset(["fresh", "rotten", "fresh"]), NAMED)["train"]
    assert aligned["label"] == [1, 0, 1]  # sorted order would give fresh=0
    assert aligned.features["label"].names == ["rotten", "fresh"]


def test_a_class_label_is_remapped_by_name():
    inverted = dataset([0, 1, 1], datasets.ClassLabel(names=["fresh", "rotten"]))
    aligned = align_labels(inverted, NAMED)["train"]
    assert aligned["label"] == [1, 0, 0]
    assert aligned.features["label"].names == ["rotten", "fresh"]


@pytest.mark.parametrize("config", [NAMED, UNNAMED])
def test_ids_and_digit_strings_are_ids(config):
    assert align_labels(dataset([1, 0, 1]), config)["train"]["label"] == [1, 0, 1]
    assert align_labels(dataset(["1", "0", "1"]), config)["train"]["label"] == [1, 0, 1]


@pytest.mark.parametrize("config", [NAMED, UNNAMED, None])
def test_mixed_names_and_ids_are_refused_naming_them(config):
    with pytest.raises(ValueError, match=r"mix class names \('pos'\) and class ids \(0, 1\)"):
        align_labels(dataset(["pos", "0", "1"]), config)


@pytest.mark.parametrize("config", [NAMED, UNNAMED])
def test_ids_beyond_num_labels_are_refused_naming_them(config):
    with pytest.raises(ValueError, match=r"1 label value\(s\) of 'the dataset' are not classes of the model: 2 "):
        align_labels(dataset([0, 1, 2]), config)


def test_unknown_names_are_refused_with_a_count():
    labels = ["fresh"] + [f"genre{i}" for i in range(7)]
    with pytest.raises(ValueError, match=r"7 label value\(s\) .*'genre0', .*'genre4' and 2 more .*'rotten', 'fresh'"):
        align_labels(dataset(labels), NAMED, source="genres.csv")


def test_names_for_a_model_without_names_are_refused():
    with pytest.raises(ValueError, match=r"does not name its classes .* ids 0..1"):
        align_labels(dataset(["rotten", "fresh"]), UNNAMED)


def test_selected_rows_are_aligned_and_null_labels_refused():
    rows = dataset(["fresh", "rotten", "rotten", "fresh"])["train"].select([3, 1])  # a view on the table's rows
    assert align_labels(datasets.DatasetDict({"test": rows}), NAMED)["test"]["label"] == [1, 0]
    with pytest.raises(ValueError, match=r"Column 'label' of split 'train' of 'the dataset' has 1 empty cell"):
        align_labels(dataset(["fresh", None]), NAMED)


def test_label2id_mapping_works_like_a_config():
    assert align_labels(dataset(["b", "a"]), {"b": 0, "a": 1})["train"]["label"] == [0, 1]


def test_without_a_model_names_are_sorted_and_ids_kept():
    named = align_labels(dataset(["pos", "neg", "pos"]))["train"]
    assert named["label"] == [1, 0, 1] and named.features["label"].names == ["neg", "pos"]
    ids = align_labels(dataset([2, 0]))["train"]
    assert ids["label"] == [2, 0] and ids.features["label"].num_classes == 3
    kept = align_labels(dataset([0, 1], datasets.ClassLabel(names=["rotten", "fresh"])))["train"]
    assert kept.features["label"].names == ["rotten", "fresh"] and kept["label"] == [0, 1]
    with pytest.raises(ValueError, match=r"-1"):
        align_labels(dataset([-1, 0]))


def test_load_text_dataset_aligns_every_split(tmp_path):
    for split, labels in (("train", ["fresh", "rotten"]), ("test", ["rotten", "rotten", "fresh"])):
        (tmp_path / f"{split}.csv").write_text("text,label\n" + "".join(f"w{i},{y}\n" for i, y in enumerate(labels)))
    loaded = load_text_dataset(str(tmp_path), labels=NAMED)
    assert loaded["train"]["label"] == [1, 0] and loaded["test"]["label"] == [0, 0, 1]


# ------------------------------------------------------------------------------------------------ hf-ckb
@pytest.fixture(scope="module")
def host(tmp_path_factory, tiny_tokenizer):
    """A saved tiny RNN naming its classes rotten/fresh, with its tokenizer and its own predictions on 24 texts."""
    model = build_host("rnn")
    model.config.id2label, model.config.label2id = dict(NAMES), {v: k for k, v in NAMES.items()}
    path = tmp_path_factory.mktemp("labels") / "rnn"
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    generator = torch.Generator().manual_seed(0)
    texts = [" ".join(f"w{int(i)}" for i in torch.randint(2, 50, (2,), generator=generator)) for _ in range(24)]
    with torch.no_grad():
        batch = tiny_tokenizer(texts, return_tensors="pt")
        predicted = model(**batch).logits.argmax(-1).tolist()
    assert set(predicted) == {0, 1}  # both classes, or a test could pass by predicting one
    return {"path": path, "texts": texts, "predicted": predicted}


def write_data(folder, texts: list[str], labels: list, splits=("test",)):
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        with open(folder / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(zip(texts, labels))
    return folder


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def evaluate_accuracy(capsys, host, folder) -> float:
    code, out, err = cli(capsys, "evaluate", "--model", host["path"], "--dataset", folder, "--json",
                         "--max-length", "16")
    assert code == 0, err
    return json.loads(out)["accuracy"]


def test_evaluate_reads_the_hosts_own_names_like_its_ids(capsys, host, tmp_path):
    by_id = write_data(tmp_path / "ids", host["texts"], host["predicted"])
    by_name = write_data(tmp_path / "names", host["texts"], [NAMES[y] for y in host["predicted"]])
    assert evaluate_accuracy(capsys, host, by_id) == 1.0  # the labels are the model's own predictions
    assert evaluate_accuracy(capsys, host, by_name) == 1.0  # a sorted mapping (fresh=0) scored 0.0


def one_line_error(capsys, *argv) -> str:
    code, _, err = cli(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("hf-ckb: error:")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    return errors[0]


def test_evaluate_refuses_mixed_labels_naming_them(capsys, host, tmp_path):
    labels = ["fresh" if i % 3 else str(i % 2) for i in range(len(host["texts"]))]  # names and the ids "0", "1"
    message = one_line_error(capsys, "evaluate", "--model", host["path"], "--dataset",
                             write_data(tmp_path / "mixed", host["texts"], labels))
    assert "mix class names ('fresh') and class ids (0, 1)" in message


def test_evaluate_refuses_ids_beyond_the_models_classes(capsys, host, tmp_path):
    labels = [i % 3 for i in range(len(host["texts"]))]  # 0, 1, 2 on a 2-class model
    message = one_line_error(capsys, "evaluate", "--model", host["path"], "--dataset",
                             write_data(tmp_path / "three", host["texts"], labels))
    assert "4 label value(s)" not in message and "not classes of the model: 2 " in message
    assert "'rotten', 'fresh'" in message


def test_import_refuses_unknown_names_and_writes_nothing(capsys, host, tmp_path):
    labels = ["fresh", "stale"] * (len(host["texts"]) // 2)
    data = write_data(tmp_path / "stale", host["texts"], labels, splits=("train", "validation"))
    out = tmp_path / "kb"
    message = one_line_error(capsys, "import", "--network", f"rnn={host['path']}", "--dataset", data,
                             "--output-dir", out, "--steps", "2", "--max-length", "16")
    assert "'stale'" in message and "'rotten', 'fresh'" in message
    assert not out.exists()


def test_finetune_from_a_named_model_keeps_its_ids(capsys, host, tmp_path):
    labels = [NAMES[y] for y in host["predicted"]]
    data = write_data(tmp_path / "data", host["texts"], labels, splits=("train", "validation"))
    out = tmp_path / "tuned"
    code, _, err = cli(capsys, "finetune", "--model", host["path"], "--dataset", data, "--output-dir", out,
                       "--epochs", "1", "--max-length", "16", "--batch-size", "4")
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "rotten", "1": "fresh"}  # sorted order had made fresh 0
    assert evaluate_accuracy(capsys, {"path": out}, write_data(tmp_path / "test", host["texts"], labels)) == \
        evaluate_accuracy(capsys, {"path": out}, write_data(tmp_path / "test-ids", host["texts"], host["predicted"]))


def test_finetune_a_new_network_records_its_classes(capsys, tmp_path):
    """Digit strings are ids ("10" is class 10, not the 3rd name in sorted order) and the saved config records the
    classes, so that `evaluate` reads the same labels back the same way."""
    texts, labels = [f"w{2 + i} w{20 + i}" for i in range(22)], [str(i % 11) for i in range(22)]
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "validation"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n"
                                                     for t, y in zip(texts, labels)))
    out = tmp_path / "rnn"
    code, _, err = cli(capsys, "finetune", "--architecture", "rnn", "--dataset", data, "--output-dir", out,
                       "--epochs", "1", "--vocab-size", "80", "--max-length", "16")
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {str(i): f"LABEL_{i}" for i in range(11)}
    accuracy = json.loads((out / "finetune_metrics.json").read_text())["validation_accuracy"]
    code, result, err = cli(capsys, "evaluate", "--model", out, "--dataset", data, "--split", "validation",
                            "--json", "--max-length", "16")
    assert code == 0, err
    assert json.loads(result)["accuracy"] == pytest.approx(accuracy)


def test_finetune_refuses_mixed_labels_and_writes_nothing(capsys, tmp_path):
    data = write_data(tmp_path / "data", [f"w{i}" for i in range(2, 14)], ["pos", "0", "1"] * 4, splits=("train",))
    out = tmp_path / "rnn"
    message = one_line_error(capsys, "finetune", "--architecture", "rnn", "--dataset", data, "--output-dir", out)
    assert "mix class names ('pos') and class ids (0, 1)" in message
    assert not out.exists()
