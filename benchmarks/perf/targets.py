"""The targets of issue #5: what each measures, its goal, and whether a run's results meet it."""

from __future__ import annotations

TARGETS = {
    "batched_vs_loop_K20": ("loop / batched time at K=20 (RNN and ANN rows)", ">=", 3.0),
    "cached_epoch_minilm": ("cached / uncached import step, MiniLM (median over epochs 2-3)", "<=", 0.5),
    "teacher_forced_T64": ("stepping / teacher-forced time at T=64", ">=", 5.0),
    "import_vs_train_rnn": ("import step / plain training step, RNN", "<=", 1.5),
    "import_vs_train_cnn": ("import step / plain training step, CNN", "<=", 1.5),
    "import_vs_train_ann": ("import step / plain training step, ANN", "<=", 1.5),
    "memory_design_vs_train_rnn": ("memory-design import step / plain training step, RNN (issue 10)", "<=", 2.0),
    "memory_design_vs_train_cnn": ("memory-design import step / plain training step, CNN (issue 10)", "<=", 2.0),
    "memory_design_vs_train_ann": ("memory-design import step / plain training step, ANN (issue 10)", "<=", 2.0),
    "sparse_time_flat": ("sparse-store step time ~ slots^x at fixed top-k, 256 -> 16,384 slots (issue 10)", "<=",
                         0.25),
    "ddp_equal": ("2-process CKB = 1-process CKB (max relative L2 diff of any tensor)", "<=", 1e-4),
}


def measured(results) -> dict:
    """The value of each target that the sections in `results` measure."""
    found = {}
    att = results.get("attention", {}).get("loop_vs_batched", {})
    vals = [att[k]["loop_over_batched"]["ratio"] for k in ("rnn_K20", "ann_K20") if k in att]
    if vals:
        found["batched_vs_loop_K20"] = min(vals)
    cache = results.get("cache", {}).get("minilm")
    if cache:
        found["cached_epoch_minilm"] = cache["cached_over_uncached_step_median"]
    rec = results.get("recurrent")
    if rec:
        found["teacher_forced_T64"] = rec["stepping_over_teacher_forced"]["ratio"]
    for kind, entry in results.get("floor", {}).get("networks", {}).items():
        found[f"import_vs_train_{kind}"] = entry["import_over_train"]["ratio"]
    for kind, entry in results.get("designs", {}).get("networks", {}).items():
        if "memory_import_over_train" in entry:
            found[f"memory_design_vs_train_{kind}"] = entry["memory_import_over_train"]["ratio"]
    if "sparse_time_exponent" in results.get("sparse", {}):
        found["sparse_time_flat"] = results["sparse"]["sparse_time_exponent"]
    ddp = results.get("ddp", {}).get("runs", {})
    diffs = [r["max_rel_diff_vs_1proc"] for n, r in ddp.items()
             if n.startswith("2proc") and "max_rel_diff_vs_1proc" in r]
    if diffs:
        found["ddp_equal"] = max(diffs)
    return found


def targets(results) -> dict:
    """Each target of the issue: the measured value and whether it is met."""
    out = {}
    for key, value in measured(results).items():
        what, op, goal = TARGETS[key]
        out[key] = {"what": what, "target": f"{op} {goal}", "measured": value,
                    "met": value >= goal if op == ">=" else value <= goal}
    return out
