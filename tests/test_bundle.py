"""The one save layout (`hf_ckb.Bundle`): what a bundle holds on disk, loading it back, updating it part by part,
and the clear errors for folders that are not bundles (or bundles of an older hf_ckb)."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch

from hf_ckb import Bundle, CKBMismatchError, InterfaceConfig, InterfaceModel
from hf_ckb.data import train_tokenizer
from hf_ckb.layout import LegacyLayoutError

SENTENCES = ["a fine film", "a dull film", "great acting", "bad acting", "a fine script", "a dull script"]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(SENTENCES, vocab_size=40, min_frequency=1)


def interface(host, ckb):
    net = InterfaceModel(host, ckb, InterfaceConfig(num_heads=2))
    with torch.no_grad():  # untrained interfaces start at zero output: make them say something
        for block in net.interface_parameters().values():
            block.normal_(std=0.3)
    return net


def logits(net, mode="interface"):
    ids = torch.tensor([[3, 4, 5, 6, 2]])
    with net.mode(mode):
        return net(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


def test_save_and_load_round_trip(make_host, make_ckb, tokenizer, tmp_path):
    ckb = make_ckb()
    nets = {"rnn": interface(make_host("rnn"), ckb), "cnn": interface(make_host("cnn"), ckb)}
    exported = make_host("rnn", seed=3)
    Bundle(ckb, nets, exported={"rnn": exported}, tokenizers={"rnn": tokenizer, "cnn": tokenizer},
           results={"interfaces": {"rnn": {"accuracy": 0.5}}}).save_pretrained(str(tmp_path))
    files = {os.path.relpath(os.path.join(r, f), tmp_path) for r, _, fs in os.walk(tmp_path) for f in fs}
    assert {"config.json", "model.safetensors", "results.json", "README.md",
            "interfaces/rnn/interface_config.json", "hosts/cnn/config.json", "hosts/cnn/tokenizer.json",
            "exported/rnn/model.safetensors", "exported/rnn/README.md"} <= files
    assert not any(f.startswith(".tmp") or "/.tmp" in f for f in files)  # no temporary left behind

    loaded = Bundle.from_pretrained(str(tmp_path), is_trainable=True)  # the same requires_grad flags as `nets`
    assert loaded.ckb.fingerprint() == ckb.fingerprint() and loaded.path == str(tmp_path)
    for name, net in nets.items():
        torch.testing.assert_close(logits(loaded.interfaces[name]), logits(net), rtol=0, atol=0, msg=name)
        torch.testing.assert_close(logits(loaded.interfaces[name], "host"), logits(net, "host"), rtol=0, atol=0)
    frozen = Bundle.from_pretrained(str(tmp_path)).interfaces["cnn"]  # PEFT's default: loaded frozen
    interface_params = frozen.named_parameters_by_role()["interface"].values()
    assert interface_params and not any(p.requires_grad for p in interface_params)
    # Frozen weights take other CPU kernels than trainable ones (measured: 7e-9 apart on the CNN's window):
    # equal up to float rounding, not bit for bit.
    torch.testing.assert_close(logits(frozen), logits(nets["cnn"]), rtol=1e-6, atol=1e-7)
    ids = torch.tensor([[3, 4, 5]])
    assert torch.equal(loaded.exported["rnn"](input_ids=ids).logits, exported(input_ids=ids).logits)
    assert loaded.results == {"interfaces": {"rnn": {"accuracy": 0.5}}}


def test_an_update_replaces_its_parts_and_keeps_the_others(make_host, make_ckb, tokenizer, tmp_path):
    ckb = make_ckb()
    rnn = interface(make_host("rnn"), ckb)
    Bundle(ckb, {"rnn": rnn}, tokenizers={"rnn": tokenizer},
           results={"interfaces": {"rnn": {"accuracy": 0.5}}, "recipe": {"steps": 1}}).save_pretrained(str(tmp_path))
    Bundle(ckb, exported={"rnn": make_host("rnn", seed=1)}, tokenizers={"rnn": tokenizer},
           results={"exported": {"rnn": {"accuracy": 0.6}}, "recipe": {"seed": 0}}).save_pretrained(str(tmp_path))
    loaded = Bundle.from_pretrained(str(tmp_path))
    assert set(loaded.interfaces) == {"rnn"} and set(loaded.exported) == {"rnn"}
    assert loaded.results == {"interfaces": {"rnn": {"accuracy": 0.5}}, "exported": {"rnn": {"accuracy": 0.6}},
                              "recipe": {"steps": 1, "seed": 0}}  # merged two levels deep


def test_a_new_ckb_makes_the_kept_interfaces_stale_and_says_so(make_host, make_ckb, tmp_path, caplog):
    ckb = make_ckb()
    Bundle(ckb, {"rnn": interface(make_host("rnn"), ckb)}).save_pretrained(str(tmp_path))
    other = make_ckb(seed=1)
    with caplog.at_level(logging.WARNING, logger="hf_ckb.bundle"):
        Bundle(other, {"cnn": interface(make_host("cnn"), other)}).save_pretrained(str(tmp_path))
    assert "interfaces rnn were trained with an earlier CKB" in caplog.text
    with pytest.raises(CKBMismatchError):
        Bundle.from_pretrained(str(tmp_path))
    assert set(Bundle.from_pretrained(str(tmp_path), interfaces=["cnn"]).interfaces) == {"cnn"}


def test_a_failed_save_leaves_the_previous_part(make_host, make_ckb, tokenizer, tmp_path):
    ckb = make_ckb()
    Bundle(ckb, exported={"rnn": make_host("rnn")}, tokenizers={"rnn": tokenizer}).save_pretrained(str(tmp_path))
    before = (tmp_path / "exported" / "rnn" / "model.safetensors").read_bytes()

    class Broken(torch.nn.Module):
        def save_pretrained(self, directory):
            with open(os.path.join(directory, "model.safetensors"), "wb") as f:
                f.write(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        Bundle(ckb, exported={"rnn": Broken()}).save_pretrained(str(tmp_path))
    assert (tmp_path / "exported" / "rnn" / "model.safetensors").read_bytes() == before
    assert not [n for n in os.listdir(tmp_path / "exported") if n.startswith(".tmp")]


def test_folders_that_are_not_bundles(make_host, make_ckb, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        Bundle.from_pretrained(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        Bundle.from_pretrained(str(tmp_path))
    model_dir = tmp_path / "model"
    make_host("rnn").save_pretrained(model_dir)
    with pytest.raises(FileNotFoundError, match="holds a model that is not a CKB"):
        Bundle.from_pretrained(str(model_dir))
    with pytest.raises(FileExistsError, match="not a CKB"):  # saving there would mix a bundle into a model
        Bundle(make_ckb()).save_pretrained(str(model_dir))
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        Bundle(make_ckb()).save_pretrained(str(tmp_path / "file"))


@pytest.mark.parametrize("layout, kind", [({"ckb/config.json": "{}", "interfaces/rnn/x": ""}, "an import run"),
                                          ({"networks/rnn/config.json": "{}"}, "an export run"),
                                          ({"interface/interface_config.json": "{}", "host/config.json": "{}"},
                                           "a distillation run")])
def test_an_old_layout_says_how_to_convert(tmp_path, layout, kind):
    for path, text in layout.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    with pytest.raises(LegacyLayoutError, match=f"is {kind}.*hf-ckb convert"):
        Bundle.from_pretrained(str(tmp_path))


def test_import_and_export_write_one_bundle(make_ckb, tokenizer, tmp_path):
    from datasets import Dataset

    from hf_ckb.data import tokenize_dataset
    from hf_ckb.pipeline import export_network, import_networks

    data = tokenize_dataset(Dataset.from_dict({"text": SENTENCES * 4, "label": [1, 0] * 12}), tokenizer,
                            max_length=8)
    quiet = dict(steps=2, eval_steps=2, batch_size=8)
    module = import_networks({"rnn": make_rnn(len(tokenizer))}, {"rnn": tokenizer}, {"rnn": data},
                             {"rnn": data}, str(tmp_path), ckb=make_ckb(), **quiet)
    exported = export_network(module.networks["rnn"], "rnn", tokenizer, data, data, str(tmp_path), **quiet)
    assert not isinstance(exported, InterfaceModel) and not exported.training
    assert type(exported).__name__ == "RNNForSequenceClassification"
    loaded = Bundle.from_pretrained(str(tmp_path))
    assert set(loaded.interfaces) == set(loaded.exported) == {"rnn"}
    assert loaded.ckb.fingerprint() == module.ckb.fingerprint()
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["export-rnn", "import"]
    ids = torch.tensor([[3, 4, 5]])
    assert torch.equal(loaded.exported["rnn"](input_ids=ids).logits, exported(input_ids=ids).logits)
    assert json.loads((tmp_path / "config.json").read_text())["fingerprint"] == module.ckb.fingerprint()


def make_rnn(vocab_size: int):
    from hf_ckb.networks import RNNConfig, RNNForSequenceClassification

    torch.manual_seed(0)
    return RNNForSequenceClassification(RNNConfig(vocab_size=vocab_size, embedding_size=16, hidden_size=16,
                                                  num_labels=2)).eval()
