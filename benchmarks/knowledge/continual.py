"""Growing the store (issue 11): the RNN, then the CNN, then the ANN imported one at a time into one CKB, each later
import without the earlier networks' teachers (`hf_ckb.continual.import_into`), for every method, against the joint
import of all three (the upper bound, which needs every teacher at once).

Per method and seed, after every step: each network's CKB-backed test accuracy and fidelity (cosine), so forgetting
is an earlier network's accuracy now against right after its own import. The later imports' training time against
a first import of the same network (imported alone, same steps). For the main method (`MAIN`, chosen before any run:
the default of `import_into`), the final CKB's exports against the joint import's. Every method runs seed 0; the main
method runs every seed of the scale.

The first step is the RNN imported alone (`Workspace.imported`, shared with the knockout and retention sections);
a later step reads only the bundle written by the step before it, the new teacher and its data. The earlier networks'
anchors (`regularised`, `combined`) are the new network's training inputs, read by the same BPE tokenizer.

The anchor weight of those two methods is chosen on validation, once (`anchor_weight`): the CNN's import into the
RNN's bundle (seed 0) with each of `ANCHOR_WEIGHTS`; the weight whose RNN stays within 0.5 points of its validation
accuracy before, with the best CNN validation accuracy (else the one whose RNN dropped least).
"""

import os

from hf_ckb.continual import import_into
from hf_ckb.lineage import read_lineage
from hf_ckb.training import evaluate_network
from hf_ckb.training.continual import METHODS

from ..paper.workspace import Workspace, load_import
from .common import percent, teacher

ORDER = ("rnn", "cnn", "ann")
MAIN = "regularised"
ANCHORED = ("regularised", "combined")
# in the tiny test (tests/test_continual.py) an earlier network drifts 0.95x / 0.64x / 0.08x as far as with the naive
# method at weights 1e2 / 1e3 / 1e4
ANCHOR_WEIGHTS = (1e3, 1e4)


def _step_key(ws: Workspace, method: str, step: int, seed: int, weight: float | None) -> str:
    if step == 0:  # the first import is the same for every method: the RNN imported alone
        return ws.design_key(f"imports/{ORDER[0]}-s{seed}")
    tag = f"-w{weight:g}" if method in ANCHORED else ""
    return ws.design_key(f"continual/{method}{tag}/{'+'.join(ORDER[:step + 1])}-s{seed}")


def _validation(ws: Workspace, path: str, archs) -> dict:
    """CKB-backed validation accuracy (%) of each of `archs` in the bundle `path`."""
    module = load_import(path)
    return {a: percent(evaluate_network(module, a, ws.data(a)[1]["validation"], ws.collator(a), 128)["accuracy"])
            for a in archs}


def grown(ws: Workspace, method: str, step: int, seed: int, weight: float | None = None) -> tuple[str, dict]:
    """`(bundle folder, metrics)` after importing `ORDER[:step + 1]` one at a time with `method` (and anchor `weight`):
    per network its test fidelity and CKB-backed accuracy (`Workspace.import_metrics`), its validation accuracy, and
    the step's training seconds."""
    if step == 0:
        path = os.path.join(ws.dir, _step_key(ws, method, 0, seed, weight))
        metrics = ws.imported(ORDER[:1], seed)[1]
        return path, {**metrics, "validation": ws.artifact(ws.design_key(f"continual/validation/{ORDER[0]}-s{seed}"),
                                                           lambda _: (None, _validation(ws, path, ORDER[:1])))[1]}
    previous = grown(ws, method, step - 1, seed, weight)[0]
    arch, earlier = ORDER[step], ORDER[:step]

    def build(path):
        tokenizer, data = ws.data(arch)
        steps = ws.scale.import_steps
        import_into(previous, {arch: ws.teacher(arch, seed)[0]}, {arch: tokenizer}, {arch: ws.train_inputs(arch)},
                    {arch: data["validation"]}, path, method=method,
                    anchor_sets={e: ws.train_inputs(arch) for e in earlier},
                    anchor_eval_sets={e: ws.data(e)[1]["validation"] for e in earlier}, steps=steps,
                    learning_rate=1e-3, batch_size=ws.scale.batch_size, eval_steps=min(ws.scale.eval_steps, steps),
                    seed=seed, **({"anchor_weight": weight} if method in ANCHORED else {}))
        metrics = ws.import_metrics(load_import(path), ORDER[:step + 1])
        return None, {**metrics, "validation": _validation(ws, path, ORDER[:step + 1]),
                      "train_seconds": read_lineage(path)[-1]["seconds"]}

    key = _step_key(ws, method, step, seed, weight)
    return os.path.join(ws.dir, key), ws.artifact(key, build)[1]


def first_import_seconds(ws: Workspace, arch: str, seed: int) -> float:
    """Training seconds of `arch` imported alone into a fresh CKB (its bundle's lineage)."""
    ws.imported((arch,), seed)
    return read_lineage(os.path.join(ws.dir, ws.design_key(f"imports/{arch}-s{seed}")))[-1]["seconds"]


def anchor_weight(ws: Workspace) -> dict:
    """The anchor weight chosen on validation (see the module docstring), with the screen's validation accuracies."""
    seed = ws.scale.seeds[0]
    before = grown(ws, MAIN, 0, seed)[1]["validation"][ORDER[0]]
    screen = {f"{w:g}": grown(ws, MAIN, 1, seed, w)[1]["validation"] for w in ANCHOR_WEIGHTS}
    kept = [w for w, v in screen.items() if v[ORDER[0]] >= before - 0.5]
    chosen = max(kept, key=lambda w: screen[w][ORDER[1]]) if kept else max(screen, key=lambda w: screen[w][ORDER[0]])
    return {"chosen": float(chosen), "before": before, "screen": screen}


def _method_rows(ws: Workspace, method: str, seeds, weight: float) -> dict:
    """`{"after <arch>": {network: {"accuracy": [per seed], "cos": [per seed]}}, "seconds": ...}` of one method."""
    rows, seconds = {}, {}
    for step, arch in enumerate(ORDER):
        per_seed = [grown(ws, method, step, s, weight)[1] for s in seeds]
        rows[f"after {arch}"] = {a: {"accuracy": [percent(m[a]["accuracy"]) for m in per_seed],
                                     "cos": [round(m[a]["cosine"], 4) for m in per_seed]} for a in ORDER[:step + 1]}
        if step:  # the first step is the RNN imported alone, not a later import
            seconds[arch] = [m["train_seconds"] for m in per_seed]
    return {**rows, "seconds": seconds}


def _exported(ws: Workspace, arch: str, seed: int, weight: float) -> dict:
    """Test accuracy of `arch` exported from the joint import of `ORDER` and from the main method's final CKB."""
    final = grown(ws, MAIN, len(ORDER) - 1, seed, weight)[0]
    key = ws.design_key(f"continual/{MAIN}-w{weight:g}/exports/to-{arch}-s{seed}")
    from_final = ws.exported_from(lambda: load_import(final), key, arch, seed)
    return {"joint": percent(ws.exported(ORDER, seed, arch)["accuracy"]), "grown": percent(from_final["accuracy"])}


def continual_section(ws: Workspace) -> dict:
    """The rows of every method (`methods`), the first imports' training seconds, the joint import's CKB-backed
    accuracies, and the exports of the main method's final CKB beside the joint import's (seed 0 for these three)."""
    seeds, first = ws.scale.seeds, ws.scale.seeds[0]
    weight = anchor_weight(ws)
    rows = {"order": list(ORDER), "main_method": MAIN, "anchor_weight": weight,
            "teacher": {a: [teacher(ws, a, s) for s in seeds] for a in ORDER},
            "methods": {m: _method_rows(ws, m, seeds if m == MAIN else seeds[:1], weight["chosen"]) for m in METHODS}}
    rows["first_seconds"] = {a: first_import_seconds(ws, a, first) for a in ORDER[1:]}
    joint = ws.imported(ORDER, first)[1]
    rows["joint"] = {a: percent(joint[a]["accuracy"]) for a in ORDER}
    rows["exported"] = {a: _exported(ws, a, first, weight["chosen"]) for a in ORDER}
    return rows
