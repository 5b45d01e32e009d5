"""A CKB whose cached Hub download got corrupted does not load silently: the warning (AutoModel) and the error
(`hf_ckb.ckb.load_ckb`) name the cached file; an intact download loads quietly and keeps its commit sha."""

from __future__ import annotations

import json


def _last_json(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


CLIENT = """
import json, os
import torch
from huggingface_hub import try_to_load_from_cache
from transformers import AutoModel
from transformers.testing_utils import CaptureLogger
from hf_ckb import CKBConfig, CKBModel
from hf_ckb.ckb import CKBIntegrityError, load_ckb, modeling_ckb

def load_logging(loader):
    with CaptureLogger(modeling_ckb.logger) as captured:
        model = loader("tester/integrity-ckb")
    return model, captured.out

torch.manual_seed(0)
CKBModel(CKBConfig(num_low_level=3, low_level_size=4, high_level_size=5, hidden_size=16)).push_to_hub(
    "tester/integrity-ckb")
intact, intact_log = load_logging(AutoModel.from_pretrained)
cached = try_to_load_from_cache("tester/integrity-ckb", "model.safetensors")
data = bytearray(open(cached, "rb").read())
data[-20:-4] = bytes(b ^ 0x5A for b in data[-20:-4])  # inside the tensor data: the header stays valid
with open(cached, "wb") as f:
    f.write(data)
changed, changed_log = load_logging(AutoModel.from_pretrained)
try:
    load_ckb("tester/integrity-ckb")
    error = None
except CKBIntegrityError as err:
    error = str(err)
print(json.dumps({"intact_log": intact_log, "commit": intact.config._commit_hash, "cached": cached,
                  "changed_log": changed_log, "error": error}))
"""


def test_a_corrupted_hub_download_is_named_in_the_warning_and_the_error(hub_env_factory, run_client):
    out = _last_json(run_client(CLIENT, hub_env_factory()))
    assert out["intact_log"] == ""
    assert out["commit"] and len(out["commit"]) == 40 and f"/snapshots/{out['commit']}/" in out["cached"]
    assert out["cached"] in out["changed_log"] and "config.json records" in out["changed_log"]
    assert out["error"] and out["cached"] in out["error"] and "allow_ckb_mismatch" not in out["error"]
