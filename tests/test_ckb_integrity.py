"""A saved CKB whose weights were changed or corrupted never loads silently: `AutoModel`/`CKBModel.from_pretrained`
log a warning, hf_ckb's own loader (`load_ckb`) raises `CKBIntegrityError`, and a file that does not parse is
reported as corruption (naming the file), never as an interface mismatch to override."""

import ast
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel
from transformers.testing_utils import CaptureLogger

import hf_ckb
from hf_ckb.ckb import CKBIntegrityError, CKBModel, load_ckb, modeling_ckb


@pytest.fixture
def saved(tiny_ckb, tmp_path):
    """`(folder, weights file)` of the tiny CKB saved with `save_pretrained`."""
    folder = tmp_path / "ckb"
    tiny_ckb.save_pretrained(folder)
    return folder, folder / "model.safetensors"


def _load_logging(loader, *args, **kwargs):
    """`(model, warnings logged by modeling_ckb)` of `loader(*args, **kwargs)`."""
    with CaptureLogger(modeling_ckb.logger) as captured:
        model = loader(*args, **kwargs)
    return model, captured.out


def _rewrite(file, change):
    """Rewrites the safetensors `file` with `change(tensors)` applied, leaving config.json as it was."""
    tensors = load_file(file)
    change(tensors)
    save_file(tensors, file, metadata={"format": "pt"})


def _no_override_advice(err):
    assert "allow_ckb_mismatch" not in str(err) and "verify=False" not in str(err)


def test_an_unchanged_ckb_loads_without_a_warning(tiny_ckb, saved):
    folder, _ = saved
    for loader in (AutoModel.from_pretrained, CKBModel.from_pretrained, load_ckb):
        model, logged = _load_logging(loader, folder)
        assert logged == ""
        assert model.fingerprint() == tiny_ckb.fingerprint() == model.config.fingerprint


def test_a_ckb_loaded_in_another_dtype_is_checked_against_its_file(tiny_ckb, saved):
    """The fingerprint is of the saved values: a float16 load of an unchanged file must not look changed."""
    half, logged = _load_logging(AutoModel.from_pretrained, saved[0], dtype=torch.float16)
    assert half.low_level.dtype == torch.float16 and logged == ""
    assert half.fingerprint() != tiny_ckb.fingerprint()  # what a check of the loaded tensors would have compared


def test_changed_weights_warn_through_auto_model_and_raise_through_load_ckb(tiny_ckb, saved):
    folder, weights = saved
    recorded = json.loads((folder / "config.json").read_text())["fingerprint"]

    def change(tensors):
        tensors["high_level"][0, 0] += 0.5

    _rewrite(weights, change)
    auto, logged = _load_logging(AutoModel.from_pretrained, folder)
    found = auto.fingerprint()
    assert found != recorded
    assert str(weights) in logged and recorded in logged and found in logged
    assert _load_logging(CKBModel.from_pretrained, folder)[1] == logged
    assert _load_logging(CKBModel.from_pretrained, folder, verify=False)[1] == ""  # asked not to check
    for load in (load_ckb, lambda path: CKBModel.from_pretrained(path, verify="error"),
                 lambda path: AutoModel.from_pretrained(path, verify="error")):
        with pytest.raises(CKBIntegrityError, match="config.json records") as err:
            load(folder)
        assert str(weights) in str(err.value) and recorded in str(err.value)
        _no_override_advice(err.value)
    assert hf_ckb.CKBIntegrityError is CKBIntegrityError and issubclass(CKBIntegrityError, ValueError)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_corruption(tiny_ckb, tmp_path, value):
    with torch.no_grad():
        tiny_ckb.low_level[1, 2, 3] = value
    tiny_ckb.save_pretrained(tmp_path)  # the fingerprint recorded matches: only the values give it away
    weights = str(tmp_path / "model.safetensors")
    with pytest.raises(CKBIntegrityError, match=r"non-finite values \(NaN or inf\) in low_level") as err:
        load_ckb(tmp_path)
    assert weights in str(err.value)
    _, logged = _load_logging(AutoModel.from_pretrained, tmp_path)
    assert weights in logged and "non-finite" in logged and "high_level" not in logged


def _corrupt(file, how):
    data = file.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    if how == "truncated":
        data = data[:header_end + (len(data) - header_end) // 2]
    elif how == "data overwritten":  # the header stays valid: only the fingerprint can tell
        middle = (header_end + len(data)) // 2
        data = data[:middle] + bytes(b ^ 0x5A for b in data[middle:middle + 16]) + data[middle + 16:]
    elif how == "header overwritten":
        data = data[:10] + b"\xff" * 20 + data[30:]
    elif how == "empty":
        data = b""
    file.write_bytes(data)


@pytest.mark.parametrize("how", ["truncated", "header overwritten", "empty"])
def test_a_file_that_does_not_parse_is_reported_as_corrupted(saved, how):
    folder, weights = saved
    _corrupt(weights, how)
    for load in (load_ckb, AutoModel.from_pretrained, lambda path: CKBModel.from_pretrained(path, verify=False)):
        with pytest.raises(CKBIntegrityError, match="is corrupted or truncated; re-download or re-save it") as err:
            load(folder)
        assert str(err.value).startswith(str(weights))
        _no_override_advice(err.value)


def test_bytes_overwritten_in_the_data_region_are_caught_by_the_fingerprint(tiny_ckb, saved):
    folder, weights = saved
    _corrupt(weights, "data overwritten")
    with pytest.raises(CKBIntegrityError, match="changed or corrupted after the CKB was saved") as err:
        load_ckb(folder)
    assert str(weights) in str(err.value)
    _no_override_advice(err.value)
    model, logged = _load_logging(AutoModel.from_pretrained, folder)
    assert str(weights) in logged and model.fingerprint() != tiny_ckb.fingerprint()


def test_a_folder_without_weights_names_the_folder(saved):
    folder, weights = saved
    os.remove(weights)
    for load in (load_ckb, CKBModel.from_pretrained):
        with pytest.raises(FileNotFoundError, match="model.safetensors") as err:
            load(folder)
        assert repr(str(folder)) in str(err.value)


def test_a_sharded_ckb_is_checked_shard_by_shard(tiny_ckb, tmp_path):
    tiny_ckb.save_pretrained(tmp_path, max_shard_size=1000)  # low_level alone is 768 bytes: two shards
    shards = sorted(tmp_path.glob("model-*.safetensors"))
    assert len(shards) == 2 and (tmp_path / "model.safetensors.index.json").is_file()
    assert _load_logging(AutoModel.from_pretrained, tmp_path)[1] == ""
    assert load_ckb(tmp_path).fingerprint() == tiny_ckb.fingerprint()
    _corrupt(shards[1], "truncated")
    with pytest.raises(CKBIntegrityError, match="corrupted or truncated") as err:
        load_ckb(tmp_path)
    assert str(err.value).startswith(str(shards[1]))


def test_verify_takes_warn_error_or_false(saved):
    with pytest.raises(ValueError, match="verify must be one of"):
        CKBModel.from_pretrained(saved[0], verify="strict")


def _hf_ckb_imports(path) -> set[str]:
    """The hf_ckb modules a file of the ckb package imports (relative imports resolved), anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            found.add(".".join(["hf_ckb", "ckb"][:3 - node.level] + [module]).rstrip(".") if node.level else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "hf_ckb" or name.startswith("hf_ckb.")}


def test_the_ckb_package_does_not_import_the_hub_module():
    """The CKB stands below `hf_ckb.hub` (bundles), which imports it: no import back (no cycle). The files copied
    into Hub repos reach hf_ckb only through `hf_ckb.ckb.hub_io`, when it is installed."""
    package = Path(modeling_ckb.__file__).parent
    for path in package.glob("*.py"):
        assert not any(name.startswith("hf_ckb.hub") for name in _hf_ckb_imports(path)), path.name
    for name in ("modeling_ckb.py", "configuration_ckb.py"):
        assert _hf_ckb_imports(package / name) <= {"hf_ckb.ckb.hub_io", "hf_ckb.ckb.configuration_ckb"}, name

