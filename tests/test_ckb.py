"""The CKB as a PreTrainedModel (Eq. 4): sizes, save/load through its own class and the Auto classes, fingerprint."""

import json
import os

import pytest
import torch
from transformers import AutoConfig, AutoModel

import hf_ckb  # noqa: F401  (registers model_type "ckb" with the Auto classes)
from hf_ckb import CKBConfig, CKBModel
from hf_ckb.ckb import weights_fingerprint


def test_parameter_count_defaults_is_the_papers_small_setting():
    ckb = CKBModel(CKBConfig())
    c = ckb.config
    assert (c.num_low_level, c.low_level_size, c.high_level_size, c.hidden_size) == (10, 30, 20, 256)
    expected = c.num_low_level * c.low_level_size * c.hidden_size + c.high_level_size * c.hidden_size
    assert expected == 81_920
    assert ckb.num_parameters() == expected
    assert sum(p.numel() for p in ckb.parameters()) == expected


def test_the_matrices_are_the_only_parameters(tiny_ckb):
    shapes = {name: tuple(p.shape) for name, p in tiny_ckb.named_parameters()}
    assert shapes == {"low_level": (3, 4, 16), "high_level": (5, 16)}
    assert tiny_ckb.num_parameters() == 3 * 4 * 16 + 5 * 16
    low, high = tiny_ckb()
    assert low is tiny_ckb.low_level and high is tiny_ckb.high_level


def test_init_is_normal_with_initializer_range():
    torch.manual_seed(0)
    ckb = CKBModel(CKBConfig(num_low_level=8, low_level_size=32, high_level_size=32, hidden_size=64,
                             initializer_range=0.5))
    values = torch.cat([ckb.low_level.flatten(), ckb.high_level.flatten()])
    assert values.std().item() == pytest.approx(0.5, rel=0.05)
    assert values.mean().abs().item() < 0.05


def test_save_and_load_with_ckb_class_and_auto_model(tiny_ckb, tmp_path):
    tiny_ckb.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file()
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin"))  # safetensors only

    direct = CKBModel.from_pretrained(tmp_path)
    auto = AutoModel.from_pretrained(tmp_path)
    assert type(direct) is CKBModel and type(auto) is CKBModel
    assert isinstance(AutoConfig.from_pretrained(tmp_path), CKBConfig)
    for loaded in (direct, auto):
        assert torch.equal(loaded.low_level, tiny_ckb.low_level)
        assert torch.equal(loaded.high_level, tiny_ckb.high_level)
        assert loaded.config.num_low_level == 3 and loaded.config.high_level_size == 5
        assert loaded.fingerprint() == tiny_ckb.fingerprint()


def test_fingerprint_is_recorded_in_config_json(tiny_ckb, tmp_path):
    tiny_ckb.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "ckb"
    assert saved["fingerprint"] == tiny_ckb.fingerprint()
    assert len(saved["fingerprint"]) == 16 and int(saved["fingerprint"], 16) >= 0  # 16 hex digits
    assert CKBModel.from_pretrained(tmp_path).config.fingerprint == saved["fingerprint"]


def test_fingerprint_changes_with_any_single_value(make_ckb):
    a, b = make_ckb(seed=0), make_ckb(seed=0)
    assert a.fingerprint() == b.fingerprint()  # a function of the values only
    base = a.fingerprint()
    with torch.no_grad():
        b.high_level[4, 15] += 1e-6
    assert b.fingerprint() != base
    c = make_ckb(seed=0)
    with torch.no_grad():
        c.low_level[2, 3, 0] = -c.low_level[2, 3, 0]
    assert c.fingerprint() not in (base, b.fingerprint())
    assert make_ckb(seed=1).fingerprint() != base


def test_fingerprint_is_independent_of_storage_dtype(tiny_ckb):
    tensors = [tiny_ckb.low_level, tiny_ckb.high_level]
    assert weights_fingerprint(tensors) == weights_fingerprint([t.detach().double() for t in tensors])
    # the shape is part of the digest: the same values laid out differently differ
    assert weights_fingerprint([tensors[0].reshape(4, 3, 16)]) != weights_fingerprint([tensors[0]])


def test_resave_after_change_updates_fingerprint(tiny_ckb, tmp_path):
    tiny_ckb.save_pretrained(tmp_path / "a")
    with torch.no_grad():
        tiny_ckb.low_level[0, 0, 0] += 1.0
    tiny_ckb.save_pretrained(tmp_path / "b")
    fa = json.loads((tmp_path / "a" / "config.json").read_text())["fingerprint"]
    fb = json.loads((tmp_path / "b" / "config.json").read_text())["fingerprint"]
    assert fa != fb and fb == tiny_ckb.fingerprint()


def test_loading_a_saved_bert_as_a_ckb_raises(make_host, tmp_path):
    make_host("bert").save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="bert"):
        CKBModel.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="bert"):
        CKBConfig.from_pretrained(tmp_path)


def test_loading_an_empty_folder_raises(tmp_path):
    # (transformers 5 alone would build a default config for a folder without config.json)
    with pytest.raises(FileNotFoundError, match=r"has no config.json and no weights \(model.safetensors\)"):
        CKBModel.from_pretrained(tmp_path)
    with pytest.raises((OSError, ValueError)):
        AutoModel.from_pretrained(tmp_path)


def test_loading_a_ckb_folder_without_weights_raises(tiny_ckb, tmp_path):
    tiny_ckb.save_pretrained(tmp_path)
    os.remove(tmp_path / "model.safetensors")
    with pytest.raises(OSError, match="model.safetensors"):
        CKBModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("field", ["num_low_level", "low_level_size", "high_level_size", "hidden_size"])
@pytest.mark.parametrize("value", [0, -3])
def test_bad_sizes_raise_value_error(field, value):
    with pytest.raises(ValueError, match=field):
        CKBConfig(**{field: value})


def test_non_integer_size_raises():
    with pytest.raises(Exception, match="low_level_size"):
        CKBConfig(low_level_size=2.5)
