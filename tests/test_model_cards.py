"""Model cards rendered offline from a bundle's figures: metadata, the figures in the text, the shipped templates,
and the rule that an edited card is never overwritten."""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from hf_ckb.model_cards import (bundle_card, bundle_card_from_folder, card_kind, exported_card, is_unedited_card, seal,
                                template_text, write_card)

CKB_CONFIG = {"model_type": "ckb", "num_low_level": 10, "low_level_size": 30, "high_level_size": 20,
              "hidden_size": 256, "fingerprint": "0123456789abcdef"}
INTERFACES = {
    "rnn": {"host_model_id": "my-org/rnn-teacher", "host_revision": "v1.0", "target_module": "gru",
            "function_kind": "recurrent", "level": "local", "dataset": "rotten_tomatoes"},
    "cnn": {"host_model_id": "/tmp/local/cnn", "target_module": "convs", "function_kind": "window", "level": "local",
            "design": "memory"},
}
HOSTS = {"rnn": {"architectures": ["RNNForSequenceClassification"], "model_type": "ckb_rnn"},
         "cnn": {"architectures": ["CNNForSequenceClassification"], "model_type": "ckb_cnn"}}
EXPORTED = {"rnn": {"architectures": ["RNNForSequenceClassification"], "model_type": "ckb_rnn"}}
# The shape `hf-ckb quickstart` writes to results.json.
QUICKSTART_RESULTS = {
    "teacher_accuracy": {"rnn": 0.728, "cnn": 0.713},
    "ckb_backed": {"rnn": {"accuracy": 0.7011, "cosine": 0.9312, "rel_l2": 0.2875, "loss": 0.1},
                   "cnn": {"accuracy": 0.6543, "cosine": 0.8123, "rel_l2": 0.4567, "loss": 0.2}},
    "exported_rnn": {"accuracy": 0.6987, "cosine": 0.9044, "rel_l2": 0.3321},
    "ensemble_accuracy": 0.73, "test_examples": 1378, "seconds": 100.0,
    "recipe": {"steps": 600, "learning_rate": 0.001, "loss": "nmse", "batch_size": 32},
}


def test_templates_ship_inside_the_package():
    folder = importlib.resources.files("hf_ckb.model_cards")
    for name in ("bundle_card.md", "exported_card.md"):
        text = folder.joinpath(name).read_text(encoding="utf-8")
        assert text.startswith("---\n{{ card_data }}\n---")
    assert template_text("bundle") == folder.joinpath("bundle_card.md").read_text(encoding="utf-8")
    if sys.version_info >= (3, 11):  # and the wheel includes them
        import tomllib

        pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
        assert "model_cards/*.md" in pyproject["tool"]["setuptools"]["package-data"]["hf_ckb"]


def test_bundle_card_metadata_and_figures():
    card = bundle_card(CKB_CONFIG, INTERFACES, HOSTS, QUICKSTART_RESULTS, EXPORTED, repo_id="my-org/my-ckb",
                       license="apache-2.0")
    data = ModelCard(str(card)).data  # what the Hub would parse
    assert data.library_name == "hf_ckb" and data.license == "apache-2.0"
    assert {"continuous-knowledge-base", "hf_ckb"} <= set(data.tags)
    assert data.base_model == ["my-org/rnn-teacher"]  # a local path is not a base model
    assert data.datasets == ["rotten_tomatoes"]
    assert data.metrics == ["accuracy", "cosine_similarity"]
    assert data.model_name == "my-ckb"
    results = {(r.metric_name, r.dataset_name, r.dataset_split): r.metric_value for r in data.eval_results}
    assert results[("rnn: CKB-backed accuracy", "rotten_tomatoes", "test")] == 0.7011
    assert results[("cnn: fidelity (cosine)", "unspecified", "test")] == 0.8123
    assert results[("rnn: fidelity (relative L2 error)", "rotten_tomatoes", "test")] == 0.2875

    text = card.text
    for expected in ("| 10 | 30 | 20 | 256 | 81,920 | `0123456789abcdef` |",  # size and shape (paper's small CKB)
                     "| rnn | text | my-org/rnn-teacher | v1.0 | RNNForSequenceClassification (ckb_rnn) | "
                     # no design recorded: an interface from before designs
                     "rotten_tomatoes | local | `gru` | recurrent | paper |",
                     "| cnn | text | /tmp/local/cnn | – | CNNForSequenceClassification (ckb_cnn) | – | local | "
                     "`convs` | window | memory |",
                     "| rnn | 0.9312 | 0.2875 | 70.1% | 72.8% |", "| cnn | 0.8123 | 0.4567 | 65.4% | 71.3% |",
                     "(figures on the test split)",
                     "| rnn | RNNForSequenceClassification (ckb_rnn) | rnn | 0.9044 | 0.3321 | 69.9% |",
                     "- steps: 600", "- learning rate: 0.001", "- loss: nmse", "- batch size: 32",
                     'CKBModel.from_pretrained("my-org/my-ckb")', 'Bundle.from_pretrained("my-org/my-ckb")',
                     'AutoModel.from_pretrained("my-org/my-ckb", trust_remote_code=True)',
                     "hf-ckb pull my-org/my-ckb --interface cnn"):
        assert expected in text, expected


def test_figures_in_the_other_recorded_shapes():
    # import_metrics.json of `hf-ckb import`: {name: {split: metrics}}
    imported = {"rnn": {"validation": {"cosine": 0.91, "rel_l2": 0.3, "accuracy": 0.7},
                        "test": {"cosine": 0.92, "rel_l2": 0.29, "accuracy": 0.71}}}
    card = bundle_card(CKB_CONFIG, {"rnn": INTERFACES["rnn"]}, HOSTS, imported)
    assert "| rnn | 0.9200 | 0.2900 | 71.0% | – |" in card.text and "(figures on the test split)" in card.text
    assert 'CKBModel.from_pretrained("path/to/bundle")' in card.text  # no repo id yet
    # canonical: {"interfaces": {...}, "exported": {...}, "datasets": {...}}
    canonical = {"interfaces": {"cnn": {"cosine": 0.5, "accuracy": 0.6, "host_accuracy": 0.65, "split": "validation"}},
                 "exported": {"cnn-small": {"accuracy": 0.62, "source_interface": "cnn"}},
                 "datasets": {"cnn": "my-org/reviews"}}
    card = bundle_card(CKB_CONFIG, {"cnn": INTERFACES["cnn"]}, HOSTS, canonical, {"cnn-small": EXPORTED["rnn"]})
    assert "| cnn | 0.5000 | – | 60.0% | 65.0% |" in card.text and "(figures on the validation split)" in card.text
    assert "| cnn-small | RNNForSequenceClassification (ckb_rnn) | cnn | – | – | 62.0% |" in card.text
    assert ModelCard(str(card)).data.datasets == ["my-org/reviews"]


def test_card_without_figures_or_networks():
    card = bundle_card(CKB_CONFIG, INTERFACES, HOSTS, {})
    data = ModelCard(str(card)).data
    assert data.eval_results is None and data.metrics is None
    assert "No figures were recorded" in card.text and "Not recorded with this bundle." in card.text
    alone = bundle_card(CKB_CONFIG, repo_id="me/ckb")  # a CKB pushed by itself
    assert "No interfaces are stored with it." in alone.text and "## Imported networks" not in alone.text
    assert ModelCard(str(alone)).data.base_model is None


def test_exported_card():
    card = exported_card(EXPORTED["rnn"], "rnn", bundle_repo_id="my-org/my-ckb", source_interface="rnn",
                         figures={"cosine": 0.9044, "rel_l2": 0.3321, "accuracy": 0.6987}, dataset="rotten_tomatoes",
                         source_host="my-org/rnn-teacher", repo_id="my-org/rnn-from-ckb")
    data = ModelCard(str(card)).data
    assert data.library_name == "hf_ckb" and data.pipeline_tag == "text-classification"
    assert data.base_model == ["my-org/my-ckb", "my-org/rnn-teacher"] and data.datasets == ["rotten_tomatoes"]
    assert data.eval_results[0].metric_value == 0.6987
    for expected in ("| CKB bundle | [my-org/my-ckb](https://huggingface.co/my-org/my-ckb) |",
                     "| source interface | rnn |", "| 0.9044 | 0.3321 | 69.9% |",
                     'AutoModelForSequenceClassification.from_pretrained("my-org/rnn-from-ckb")'):
        assert expected in card.text, expected
    token = exported_card({"architectures": ["RNNForTokenClassification"]}, "pos")
    assert ModelCard(str(token)).data.pipeline_tag == "token-classification"
    assert "AutoModelForTokenClassification" in token.text


def test_an_edited_card_is_never_overwritten(tmp_path):
    path = tmp_path / "README.md"
    first = bundle_card(CKB_CONFIG, INTERFACES, HOSTS, {})
    assert write_card(path, first)
    text = path.read_text()
    assert is_unedited_card(text) and card_kind(text) == "bundle"
    assert write_card(path, bundle_card(CKB_CONFIG, INTERFACES, HOSTS, QUICKSTART_RESULTS))  # unedited: refreshed
    assert "70.1%" in path.read_text()
    path.write_text(path.read_text().replace("# ", "# My CKB - ", 1))  # a user's edit
    assert not is_unedited_card(path.read_text()) and card_kind(path.read_text()) is None
    assert not write_card(path, first) and "My CKB" in path.read_text()
    assert write_card(path, first, refresh=True) and "My CKB" not in path.read_text()
    assert card_kind(seal("hello", "ckb")) == "ckb" and card_kind("hello") is None
    with pytest.raises(ValueError, match="kind"):
        seal("hello", "nonsense")


def test_a_saved_bundle_has_the_card_and_keeps_an_edited_one(make_host, make_ckb, tmp_path):
    import json

    from hf_ckb import Bundle, InterfaceConfig, InterfaceModel

    ckb = make_ckb()
    nets = {"rnn": InterfaceModel(make_host("rnn"), ckb, InterfaceConfig(num_heads=2, dataset="rotten_tomatoes"))}
    results = {"interfaces": {"rnn": {"cosine": 0.875, "rel_l2": 0.25, "accuracy": 0.6123}}}
    Bundle(ckb, nets, exported={"rnn": make_host("rnn", seed=1)}, results=results).save_pretrained(str(tmp_path))
    card = (tmp_path / "README.md").read_text()
    assert card_kind(card) == "bundle" and "| rnn | 0.8750 | 0.2500 | 61.2% | – |" in card
    assert f"`{ckb.fingerprint()}`" in card and "| 3 | 4 | 5 | 16 | 272 |" in card
    assert card_kind((tmp_path / "exported" / "rnn" / "README.md").read_text()) == "exported"
    assert json.loads((tmp_path / "interfaces" / "rnn" / "interface_config.json").read_text())["dataset"] == \
        "rotten_tomatoes"
    assert str(bundle_card_from_folder(str(tmp_path))) in card

    (tmp_path / "README.md").write_text(card + "\nNotes of mine.\n")
    Bundle(ckb, nets, results={"interfaces": {"rnn": {"accuracy": 0.5}}}).save_pretrained(str(tmp_path))
    assert (tmp_path / "README.md").read_text().endswith("Notes of mine.\n")
    Bundle(ckb, nets, results={"interfaces": {"rnn": {"accuracy": 0.5}}}).save_pretrained(str(tmp_path),
                                                                                       refresh_card=True)
    assert "50.0%" in (tmp_path / "README.md").read_text()
