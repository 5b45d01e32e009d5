"""Memory-bank initialisation (issue 11; TRELM §3.2): the RNN imported alone into a fresh CKB with its rows, query
and output maps started from the teacher's activations (`import_networks(memory_bank=True)`,
`hf_ckb.training.memory_bank`) against the same import from random rows, validation fidelity logged every
`CURVE_STEPS` steps; and both again with half the steps (a whole schedule of their own: the learning rate decays
to 0 at the last step, so a long run's curve reaches its final value only near its end, whatever the start).

Per arm and seed: the validation cosine after every `CURVE_STEPS` steps (the curve), the test fidelity and
CKB-backed test accuracy of the kept checkpoint, and the training seconds (the initialisation included). Steps to
fidelity: the first logged step at which the memory-bank arm's validation cosine reaches the random arm's final one
(`steps_to_random_final`), and reaches `LEVEL` (`steps_to_level`, both arms).
"""

import glob
import json
import os

from hf_ckb.ckb import CKBConfig, CKBModel
from hf_ckb.lineage import read_lineage
from hf_ckb.pipeline import import_networks

from ..paper.workspace import Workspace, load_import
from .common import percent

ARCH = "rnn"  # the network whose CKB-backed accuracy depends on the store in the memory design (knockout)
ARMS = {"random": (False, 1.0), "memory_bank": (True, 1.0),  # arm: (memory bank, fraction of the scale's steps)
        "random_half": (False, 0.5), "memory_bank_half": (True, 0.5)}
CURVE_STEPS = 50
LEVEL = 0.99  # validation cosine


def _curve(path: str, arch: str) -> list[list[float]]:
    """`[[step, validation cosine], ...]` from the trainer state of the run's last checkpoint."""
    states = glob.glob(os.path.join(path, "checkpoints", "import", "checkpoint-*", "trainer_state.json"))
    last = max(states, key=lambda p: int(p.split("checkpoint-")[-1].split(os.sep)[0]))
    with open(last) as f:
        history = json.load(f)["log_history"]
    return [[e["step"], round(e[f"eval_{arch}_cosine"], 4)] for e in history if f"eval_{arch}_cosine" in e]


def _arm(ws: Workspace, arm: str, seed: int) -> dict:
    bank, fraction = ARMS[arm]

    def build(path):
        steps = max(1, round(fraction * ws.scale.import_steps))
        module = import_networks(
            {ARCH: ws.teacher(ARCH, seed)[0]}, {ARCH: ws.data(ARCH)[0]}, {ARCH: ws.train_inputs(ARCH)},
            {ARCH: ws.data(ARCH)[1]["validation"]}, path, ckb=CKBModel(CKBConfig(**ws.scale.small_ckb)),
            interface_configs={ARCH: ws.interface_config(ARCH)}, steps=steps, learning_rate=1e-3,
            batch_size=ws.scale.batch_size, eval_steps=min(CURVE_STEPS, steps), seed=seed,
            memory_bank=bank)
        metrics = ws.import_metrics(load_import(path), (ARCH,))[ARCH]
        return None, {"accuracy": percent(metrics["accuracy"]), "cos": round(metrics["cosine"], 4),
                      "curve": _curve(path, ARCH), "train_seconds": read_lineage(path)[-1]["seconds"]}

    return ws.artifact(ws.design_key(f"memory_bank/{arm}/{ARCH}-s{seed}"), build)[1]


def steps_to(curve: list[list[float]], level: float) -> int | None:
    """The first logged step whose validation cosine reaches `level` (None: never)."""
    return next((step for step, cos in curve if cos >= level), None)


def memory_bank_section(ws: Workspace) -> dict:
    """Per arm: test accuracy and fidelity, the training seconds and the curve, one value per seed; and, per seed,
    the steps the memory-bank arm took to reach the random arm's final validation fidelity."""
    if ws.design != "memory":
        return {"skipped": f"memory-bank initialisation is for the 'memory' design (keys and values are the CKB rows); "
                           f"the {ws.design!r} design reads the CKB through its own projections"}
    seeds = ws.scale.seeds
    runs = {arm: [_arm(ws, arm, s) for s in seeds] for arm in ARMS}
    rows = {"network": ARCH, "steps": ws.scale.import_steps,
            **{arm: {key: [r[key] for r in runs[arm]] for key in ("accuracy", "cos", "train_seconds", "curve")}
               for arm in ARMS}}
    rows["steps_to_random_final"] = [steps_to(mb["curve"], rnd["curve"][-1][1])
                                     for mb, rnd in zip(runs["memory_bank"], runs["random"])]
    rows["steps_to_level"] = {arm: [steps_to(r["curve"], LEVEL) for r in runs[arm]]
                              for arm in ("random", "memory_bank")}
    rows["level"] = LEVEL
    return rows
