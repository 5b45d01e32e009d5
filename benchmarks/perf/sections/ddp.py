"""Section 6, multi-process: `CKBTrainer` import (ddp_worker.py) as 1 process (1 and 2 threads) and as 2 processes
(torchrun, and accelerate launch), gloo, 1 thread each; the final CKB + interface of each against one process, and
examples/s."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

from common import log, word_tokenizer

WORKER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ddp_worker.py")

# timeout_s: a launch that outlives it is killed with its workers and reported as failed (about 1 launch in 5 hangs
# when one gloo worker dies: the other waits for it forever; tests/test_multiprocess.py relaunches for that reason)
FULL = dict(steps=30, global_batch=32, length=24, size="paper", timeout_s=900)
QUICK = dict(steps=4, global_batch=8, length=8, size="tiny", accelerate=True, timeout_s=180)


def launchers(cfg) -> dict:
    """The command line of each run, without the worker's own options."""
    out = {
        "1proc_1thread": [sys.executable, WORKER, "--threads", "1"],
        "1proc_2threads": [sys.executable, WORKER, "--threads", "2"],
        "2proc_1thread": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29517", WORKER, "--threads", "1"],
    }
    if cfg.get("accelerate", True):
        # `accelerate launch --cpu --num_processes 2` starts ONE process unless MPI is set up (--mpirun_hostfile);
        # --multi_gpu starts torch.distributed processes, which the Trainer runs on gloo when use_cpu=True.
        out["2proc_accelerate"] = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2",
                                   "--main_process_port", "29518", WORKER, "--threads", "1"]
    return out


def run(cfg, device):
    out = {"steps": cfg["steps"], "global_batch": cfg["global_batch"], "length": cfg["length"], "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = os.path.join(tmp, "tok")
        word_tokenizer().save_pretrained(tok_dir)
        options = ["--tokenizer", tok_dir, "--steps", str(cfg["steps"]), "--global-batch", str(cfg["global_batch"]),
                   "--length", str(cfg["length"]), "--size", cfg["size"]]
        for name, cmd in launchers(cfg).items():
            folder = os.path.join(tmp, name)
            out["runs"][name] = launch(name, cmd + ["--out", folder] + options, folder, cfg["timeout_s"])
    compare(out["runs"])
    return out


def launch(name, cmd, folder, timeout_s) -> dict:
    """One run writing into `folder`: its run.json with the wall time (start-up included) and its final trainable
    state under "state", or {"error": ...} when it failed, hung or ran with the wrong number of processes."""
    from safetensors.torch import load_file

    start = time.perf_counter()
    returncode, stderr = run_launcher(cmd, timeout_s)
    wall = time.perf_counter() - start
    if returncode != 0:
        error = stderr[-2000:] if returncode is not None else f"killed after {timeout_s} s\n{stderr[-1900:]}"
        log(f"ddp {name} failed:\n{error}")
        return {"error": error}
    with open(os.path.join(folder, "run.json")) as f:
        result = json.load(f)
    expected = 2 if name.startswith("2proc") else 1
    if result["world_size"] != expected:
        return {"error": f"ran with world size {result['world_size']}, expected {expected}"}
    result["state"] = load_file(os.path.join(folder, "trainable.safetensors"))
    result["wall_seconds_with_startup"] = wall
    log(f"ddp {name}: {result['examples_per_s']:.1f} examples/s")
    return result


def run_launcher(cmd, timeout_s) -> tuple[int | None, str]:
    """Runs `cmd` (one thread per process): `(exit status, stderr)`, or `(None, stderr)` when it outlived
    `timeout_s`, after killing it and every process it started (torchrun's workers run in sessions of their own, so
    killing a process group would leave them holding the pipes)."""
    import psutil  # a dependency of accelerate

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        launcher = psutil.Process(proc.pid)
        for p in [*launcher.children(recursive=True), launcher]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        return None, proc.communicate()[1]
    return proc.returncode, stderr


def compare(runs: dict) -> None:
    """Each run's largest difference from the 1-process, 1-thread state (which replaces its "state"), and its
    throughput against 1 process with 2 threads."""
    ref = runs.get("1proc_1thread", {}).get("state")
    for result in runs.values():
        state = result.pop("state", None)
        if state is not None and ref is not None:
            result["max_abs_diff_vs_1proc"] = max(float((state[k] - ref[k]).abs().max()) for k in ref)
            result["max_rel_diff_vs_1proc"] = max(float((state[k] - ref[k]).norm() / ref[k].norm()) for k in ref)
    base = runs.get("1proc_2threads", {}).get("examples_per_s")
    for result in runs.values():
        if base and "examples_per_s" in result:
            result["throughput_over_1proc_2threads"] = result["examples_per_s"] / base
