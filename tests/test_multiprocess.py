"""Import under DDP (2 CPU processes, gloo, launched with torchrun) gives the CKB of one process with the same global
batch. Runs benchmarks/perf/ddp_worker.py for real, tiny sizes (~30 s)."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from hf_ckb import get_interface_model
from hf_ckb.training import CKBTrainingModule

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
WORKER = os.path.join(ROOT, "benchmarks", "perf", "ddp_worker.py")


def test_one_forward_uses_every_trainable_parameter(make_host, make_ckb):
    """What DDP with find_unused_parameters=False needs: every parameter that trains gets a gradient from one
    forward of all networks (here a joint import of three networks)."""
    ckb = make_ckb()
    module = CKBTrainingModule(ckb, {k: get_interface_model(make_host(k), ckb) for k in ("rnn", "cnn", "ann")})
    module.train()
    ids = torch.randint(2, 50, (2, 6))
    batch = {k: {"input_ids": ids, "attention_mask": torch.ones_like(ids)} for k in module.networks}
    module(**batch)["loss"].backward()
    unused = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused


def _launch(cmd: list[str], env: dict, attempts: int = 3) -> subprocess.CompletedProcess:
    """Runs a launch, again if it died by a signal or hung: about 1 in 5 gloo runs on this CPU aborts at exit
    ("terminate called without an active exception") or never returns (unexplained, see the issue note). Only the
    launch is retried; what it computed is checked as strictly as ever."""
    for attempt in range(attempts):
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired as err:
            proc = subprocess.CompletedProcess(cmd, -9, "", f"timed out after 60 s: {err}")
        if proc.returncode >= 0 or attempt == attempts - 1:
            return proc
    return proc


def _free_port() -> int:
    """A port nobody listens on now, so back-to-back runs never wait on a rendezvous port still in use."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_processes_give_the_ckb_of_one(tmp_path, tiny_tokenizer):
    tok_dir = tmp_path / "tok"
    tiny_tokenizer.save_pretrained(tok_dir)
    common = ["--tokenizer", str(tok_dir), "--steps", "4", "--global-batch", "8", "--length", "6", "--size", "tiny",
              "--data", "random", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = os.pathsep.join([os.path.abspath(ROOT), env.get("PYTHONPATH", "")])
    runs = {"one": [sys.executable, WORKER],
            "two": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                    "--master_port", str(_free_port()), WORKER]}
    states = {}
    for name, cmd in runs.items():
        proc = _launch(cmd + ["--out", str(tmp_path / name)] + common, env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        states[name] = load_file(tmp_path / name / "trainable.safetensors")
        with open(tmp_path / name / "run.json") as f:
            assert json.load(f)["world_size"] == (2 if name == "two" else 1)
    assert set(states["one"]) == set(states["two"]) and any(k.startswith("ckb.") for k in states["one"])
    initial = load_file(tmp_path / "one" / "initial.safetensors")
    assert not torch.allclose(states["one"]["ckb.low_level"], initial["ckb.low_level"])  # it did train
    for key, value in states["one"].items():
        torch.testing.assert_close(states["two"][key], value, rtol=1e-4, atol=1e-5, msg=key)
