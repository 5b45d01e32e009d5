"""A pushed CKB is self-contained: `AutoModel.from_pretrained(repo_id, trust_remote_code=True)` loads it in a process
that cannot import hf_ckb (its code files and `auto_map` travel with the weights)."""

from __future__ import annotations

import json
import os

from .conftest import REPO_ROOT

# Put first on PYTHONPATH: Python imports `sitecustomize` at start-up, and this one makes `import hf_ckb` fail.
BLOCKER = '''
import sys


class BlockHfCkb:
    """Meta-path finder that refuses hf_ckb, as if it were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "hf_ckb" or name.startswith("hf_ckb."):
            raise ImportError(f"No module named {name!r} (hf_ckb is blocked in this process)")
        return None


sys.meta_path.insert(0, BlockHfCkb())
'''

DIGEST = """
import hashlib, json, os, sys
def digest(tensor):
    return hashlib.sha256(tensor.detach().contiguous().cpu().numpy().tobytes()).hexdigest()
"""


def _last_json(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_pushed_ckb_loads_with_trust_remote_code_without_hf_ckb(hub_backend, hub_env_factory, run_client, tmp_path):
    pushed = _last_json(run_client(DIGEST + """
import torch
from hf_ckb import CKBConfig, CKBModel
torch.manual_seed(0)
ckb = CKBModel(CKBConfig(num_low_level=3, low_level_size=4, high_level_size=5, hidden_size=16))
info = ckb.push_to_hub("tester/remote-ckb")
print(json.dumps({"oid": info.oid, "fingerprint": ckb.fingerprint(),
                  "tensors": [digest(ckb.low_level), digest(ckb.high_level)]}))
""", hub_env_factory()))
    files = hub_backend.file_entries("tester/remote-ckb")
    assert {"config.json", "model.safetensors", "configuration_ckb.py", "modeling_ckb.py", "README.md"} <= set(files)

    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = hub_env_factory()
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != str(REPO_ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), *paths])
    saved = tmp_path / "saved-again"

    loaded = _last_json(run_client(DIGEST + f"""
try:
    import hf_ckb
    blocked = False
except ImportError:
    blocked = True
assert blocked, "hf_ckb must not be importable here"
from huggingface_hub import snapshot_download
from transformers import AutoConfig, AutoModel
config = AutoConfig.from_pretrained("tester/remote-ckb", trust_remote_code=True)
model = AutoModel.from_pretrained("tester/remote-ckb", trust_remote_code=True)
out = {{"blocked": blocked, "config_class": type(config).__module__ + "." + type(config).__name__,
       "model_class": type(model).__module__ + "." + type(model).__name__, "fingerprint": model.fingerprint(),
       "recorded": config.fingerprint, "tensors": [digest(model.low_level), digest(model.high_level)],
       "shapes": [list(model.low_level.shape), list(model.high_level.shape)]}}
# Saved again from the dynamic module: the code files come along, and it loads again.
model.save_pretrained({str(saved)!r})
out["saved_files"] = sorted(os.listdir({str(saved)!r}))
out["saved_auto_map"] = json.load(open(os.path.join({str(saved)!r}, "config.json")))["auto_map"]
out["reloaded"] = AutoModel.from_pretrained({str(saved)!r}, trust_remote_code=True).fingerprint()
# The flat-import fallback of modeling_ckb.py: the repo folder itself on sys.path.
sys.path.insert(0, snapshot_download("tester/remote-ckb"))
import modeling_ckb
out["flat"] = [modeling_ckb.CKBConfig.__module__, modeling_ckb.CKBModel.__module__]
out["hf_ckb_loaded"] = [m for m in sys.modules if m == "hf_ckb" or m.startswith("hf_ckb.")]
print(json.dumps(out))
""", env, cwd=elsewhere))

    assert loaded["blocked"] is True and loaded["hf_ckb_loaded"] == []
    assert loaded["model_class"].startswith("transformers_modules.") and loaded["model_class"].endswith(
        "modeling_ckb.CKBModel")
    assert loaded["config_class"].endswith("configuration_ckb.CKBConfig")
    assert loaded["tensors"] == pushed["tensors"]
    assert loaded["fingerprint"] == loaded["recorded"] == loaded["reloaded"] == pushed["fingerprint"]
    assert loaded["shapes"] == [[3, 4, 16], [5, 16]]
    assert {"configuration_ckb.py", "modeling_ckb.py", "config.json", "model.safetensors"} <= set(loaded["saved_files"])
    assert loaded["saved_auto_map"] == {"AutoConfig": "configuration_ckb.CKBConfig",
                                        "AutoModel": "modeling_ckb.CKBModel"}
    assert loaded["flat"] == ["configuration_ckb", "modeling_ckb"]
