"""The knowledge benchmark's targets (issue 10) checked on its rows, and its markdown report."""

from statistics import mean

from .few_labels import ARMS as FEW_LABEL_ARMS
from .lookup import ARMS as LOOKUP_ARMS

NAMES = {"rnn": "RNN", "cnn": "CNN", "ann": "ANN", "digits": "digits (images)"}


def _mean(values) -> float:
    return mean(values) if isinstance(values, list) else values


def _target(value: float, needed: float, at_least: bool = True, digits: int = 2) -> dict:
    """`value` against the threshold `needed`; `margin` > 0 is met by that much, < 0 missed by that much."""
    margin = value - needed if at_least else needed - value
    return {"value": round(value, digits), "needed": round(needed, digits), "margin": round(margin, digits),
            "met": margin >= 0}


def check_targets(rows: dict) -> dict:
    """Each target of issue 10 that `rows` (one design's sections) can be checked on, with its margin in points."""
    out = {}
    for arch, r in rows.get("knockout", {}).items():
        out[f"knockout {arch}: zeroed within 3 of majority"] = _target(abs(r["zero_ckb"] - r["majority"]), 3, False)
        out[f"knockout {arch}: random within 3 of majority"] = _target(abs(r["random_ckb"] - r["majority"]), 3,
                                                                        False)
        out[f"knockout {arch}: as imported within 1 of teacher"] = _target(r["ckb_backed"], r["teacher"] - 1)
    for pair, r in rows.get("transfer", {}).items():
        out[f"reuse {pair}: imported - random >= 3"] = _target(_mean(r["imported"]) - _mean(r["random"]), 3)
    for pair, r in _few_label_rows(rows):
        out[f"few labels {pair}: imported - random >= 3"] = _target(_mean(r["imported"]) - _mean(r["random"]), 3)
        out[f"few labels {pair}: imported - alone >= 3"] = _target(_mean(r["imported"]) - _mean(r["alone"]), 3)
    lookup = rows.get("lookup", {})
    for arch, r in lookup.get("knockout", {}).items():
        out[f"lookup knockout {arch}: zeroed within 3 of majority"] = _target(abs(r["zero_ckb"] - r["majority"]), 3,
                                                                               False)
        out[f"lookup knockout {arch}: random within 3 of majority"] = _target(abs(r["random_ckb"] - r["majority"]),
                                                                               3, False)
        out[f"lookup knockout {arch}: as imported within 1 of teacher"] = _target(r["ckb_backed"], r["teacher"] - 1)
    for pair, r in lookup.get("reuse", {}).items():
        out[f"lookup reuse {pair}: imported - random >= 3"] = _target(_mean(r["imported"]) - _mean(r["random"]), 3)
        out[f"lookup reuse {pair}: imported - scratch >= 3"] = _target(_mean(r["imported"]) - _mean(r["scratch"]), 3)
        out[f"lookup reuse {pair}: imported >= host embeddings"] = _target(_mean(r["imported"]),
                                                                           _mean(r["host_embeddings"]))
    sized = rows.get("lookup_capacity", {}).get("sizes")
    if sized:  # the capacity target on the newcomer through the store of embeddings
        smallest, default = sized[min(sized, key=int)], sized[rows["lookup_capacity"]["default"]]
        out["lookup capacity: smallest >= 1 below default"] = _target(
            _mean(default["imported"]) - _mean(smallest["imported"]), 1)
    for arch, r in _image_rows(rows):
        for what in ("ckb_backed", "exported"):
            out[f"images+text {arch}: joint {what} within 0.5 of alone"] = _target(
                r["joint"][what], r["alone"][what] - 0.5)
    capacity = rows.get("capacity")
    if capacity and rows.get("capacity_default") in capacity:
        smallest = capacity[min(capacity, key=int)]
        out["capacity: smallest >= 1 below default"] = _target(
            capacity[rows["capacity_default"]]["exported"] - smallest["exported"], 1)
    fusion = rows.get("fusion")
    if fusion:
        fused = _mean(fusion["fused"])
        out["fusion: fused >= teacher + 0.7"] = _target(fused, _mean(fusion["teacher"]) + 0.7)
        out["fusion: fused >= same-steps control"] = _target(fused, _mean(fusion["control"]))
        if "kd_ensemble" in fusion:
            out["fusion: fused >= multi-teacher distillation"] = _target(fused, _mean(fusion["kd_ensemble"]))
        out["fusion (stretch): fused >= ensemble"] = _target(fused, _mean(fusion["ensemble"]))
    for arch, r in rows.get("retention", {}).items():
        out[f"retention {arch}: exported within 0.5 of teacher"] = _target(_mean(r["exported"]),
                                                                           _mean(r["teacher"]) - 0.5)
    out.update(_continual_targets(rows.get("continual")))
    bank = rows.get("memory_bank")
    if bank and "skipped" not in bank:
        reached = [s if s is not None else bank["steps"] for s in bank["steps_to_random_final"]]
        out["memory bank: reaches random init's final fidelity in <= half the steps (never: all the steps)"] = _target(
            max(reached), bank["steps"] / 2, False)
        if "memory_bank_half" in bank:  # a whole schedule of half the steps against the random start's whole one
            final = {arm: mean(c[-1][1] for c in bank[arm]["curve"]) for arm in ("random", "memory_bank_half")}
            out["memory bank, half the steps: final val cos >= random start's, all the steps"] = _target(
                final["memory_bank_half"], final["random"], digits=4)
    return out


def _continual_targets(rows: dict | None) -> dict:
    """Issue 11's targets: forgetting per method, the grown CKB's exports, the later imports' cost."""
    out = {}
    if not rows:
        return out
    order, last = rows["order"], f"after {rows['order'][-1]}"
    for method, r in rows["methods"].items():
        for arch in order[:-1]:
            own = r[f"after {arch}"][arch]["accuracy"]
            out[f"continual {method} {arch}: final >= right after its import - 0.5"] = _target(
                _mean(r[last][arch]["accuracy"]) - _mean(own), -0.5)
        for arch, seconds in r["seconds"].items():
            out[f"continual {method} {arch}: later import <= 1.5x a first import"] = _target(
                _mean(seconds) / rows["first_seconds"][arch], 1.5, False)
    for arch, r in rows.get("exported", {}).items():
        out[f"continual {rows['main_method']} {arch}: exported within 0.5 of the joint import's"] = _target(
            r["grown"], r["joint"] - 0.5)
    return out


def _few_label_rows(rows: dict) -> list:
    """`(transfer, arms)` of the few-labels section (its other keys say how many labels, or why it was skipped)."""
    return [(k, v) for k, v in rows.get("few_labels", {}).items() if isinstance(v, dict)]


def _image_rows(rows: dict) -> list:
    """`(network, arms)` of the images section (its `overlap` key is a number)."""
    return [(k, v) for k, v in rows.get("images", {}).items() if isinstance(v, dict)]


def _fmt(values, digits: int = 2) -> str:
    if isinstance(values, list):
        text = " / ".join(f"{v:.{digits}f}" for v in values)
        return f"{mean(values):.{digits}f} ({text})" if len(values) > 1 else text
    return f"{values:.{digits}f}"


def _section_lines(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:  # a section this run did not measure
        return []
    return [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def _sources(design_rows: dict, section: str) -> str:
    rows = design_rows.get(section, {})
    found = {r.get("source") for r in (rows.values() if section != "fusion" else [rows]) if isinstance(r, dict)}
    found.discard(None)
    return f" (from {'; '.join(sorted(found))})" if found else ""


def format_markdown(results: dict, command: str) -> str:
    designs = [results, results["paper_design"]] if "paper_design" in results else [results]
    lines = [f"# Knowledge tests of the CKB, `{results['scale']}` scale", "", f"Command: `{command}`", "",
             "Rotten Tomatoes test split, accuracy in %; checkpoints selected on validation, never on test. A list "
             "is one value per seed, shown as `mean (seed values)`. Designs: `memory` (keys and values are the CKB "
             "rows, no private path, recurrent cells carry their state), `sparse` (a large store read top-k through "
             "product keys) and `paper` (the paper's reading). Rows marked *from* a file are the paper benchmark's "
             "committed runs of the same recipe, scale and seeds (reused, not rebuilt), with their own teachers (the "
             "BPE tokenizer is trained once per work dir, and that training is not reproducible across processes): "
             "compare each design with its own teacher column. Every knockout and the multi-teacher distillation "
             "column are computed here.", ""]
    knock, retain, transfer, capacity, few = [], [], [], [], []
    for d in designs:
        name = d["design"] + _sources(d, "knockout")
        for arch, r in d.get("knockout", {}).items():
            knock.append([name, NAMES[arch], _fmt(r["teacher"]), _fmt(r["ckb_backed"]), _fmt(r["zero_ckb"]),
                          _fmt(r["random_ckb"]), _fmt(r["majority"]), f"{r['random_ckb'] - r['majority']:+.2f}",
                          f"{r['cos']['imported']:.3f}", f"{r['cos']['zero']:.3f}", f"{r['cos']['random']:.3f}",
                          f"{r['import_seconds']:.0f}"])
        for arch, r in d.get("retention", {}).items():
            retain.append([d["design"] + _sources(d, "retention"), NAMES[arch], _fmt(r["teacher"]),
                           _fmt(r["ckb_backed"]), _fmt(r["exported"]),
                           f"{_mean(r['exported']) - _mean(r['teacher']):+.2f}"])
        for pair, r in d.get("transfer", {}).items():
            transfer.append([d["design"] + _sources(d, "transfer"), pair.upper().replace("->", " → "),
                             _fmt(r["imported"]), _fmt(r["random"]),
                             f"{_mean(r['imported']) - _mean(r['random']):+.2f}"])
        for pair, r in _few_label_rows(d):
            few.append([d["design"], pair.upper().replace("->", " → "), *(_fmt(r[arm]) for arm in FEW_LABEL_ARMS),
                        f"{_mean(r['imported']) - _mean(r['random']):+.2f}",
                        f"{_mean(r['imported']) - _mean(r['alone']):+.2f}"])
        for size, r in sorted(d.get("capacity", {}).items(), key=lambda kv: int(kv[0])):
            default = " (default)" if size == d.get("capacity_default") else ""
            capacity.append([d["design"] + _sources(d, "capacity"), f"{int(size):,}{default}", _fmt(r["ckb_backed"]),
                             f"{r['cos']:.3f}", _fmt(r["exported"])])
    lines += _section_lines("Knockout: each network imported alone (seed 0), CKB replaced, interface unchanged",
                            ["design", "network", "teacher", "as imported", "zeroed", "random", "majority",
                             "random − majority", "cos imported", "cos zeroed", "cos random", "import s"], knock)
    lines += _section_lines("Reuse: a never-imported target through the frozen CKB (CKB-backed target)",
                            ["design", "transfer", "imported CKB", "random CKB", "imported − random"], transfer)
    labels = next((d["few_labels"].get("labels") for d in designs if "few_labels" in d), None)
    lines += _section_lines(f"Reuse with few labels: the target trained on {labels} labels through the frozen store "
                            "(embeddings copied from the source host in every arm)",
                            ["design", "transfer", "alone (no store)", "imported, anchored reader",
                             "random, anchored reader", "imported, fresh reader", "imported, anchored reader frozen",
                             "random, anchored reader frozen", "imported − random", "imported − alone"], few)
    lines += _lookup_lines(designs)
    lines += _image_lines(designs)
    lines += _continual_lines(designs)
    lines += _memory_bank_lines(designs)
    lines += _section_lines("Capacity: the ANN imported alone into CKBs of three sizes, then exported",
                            ["design", "CKB parameters", "CKB-backed", "cos", "exported"], capacity)
    fusion = [[d["design"] + _sources(d, "fusion"), *(_fmt(d["fusion"].get(k, [])) if k in d["fusion"] else "–"
                                                   for k in ("teacher", "control", "kd_ensemble", "ensemble",
                                                             "fused"))] for d in designs if "fusion" in d]
    lines += _section_lines("Fusion: {RNN, CNN} → CKB → RNN (paired seeds)",
                            ["design", "RNN teacher", "control: same steps, no fusion",
                             "multi-teacher distillation", "teachers' logit ensemble", "fused"], fusion)
    lines += _section_lines("Retention: each network imported alone and exported",
                            ["design", "network", "teacher", "CKB-backed", "exported", "exported − teacher"], retain)
    targets = [[d["design"], name, f"{t['value']:g}", f"{t['needed']:g}", f"{t['margin']:+g}",
                "met" if t["met"] else "**missed**"] for d in designs for name, t in d.get("targets", {}).items()]
    lines += _section_lines("Targets (margin > 0: met by that much; < 0: missed by that much)",
                            ["design", "target", "value", "needed", "margin", ""], targets)
    return "\n".join(lines)


def _image_lines(designs: list[dict]) -> list[str]:
    """Images and text in one CKB (`images.py`): each network alone and joint, with its knockout and accounting."""
    rows = []
    for d in designs:
        overlap = d.get("images", {}).get("overlap")
        for arch, r in _image_rows(d):
            for arm in ("alone", "joint"):
                a = r[arm]
                rows.append([d["design"], NAMES[arch], arm, _fmt(r["teacher"]), _fmt(a["ckb_backed"]),
                             _fmt(a["zero_ckb"]), _fmt(a["random_ckb"]), _fmt(r["majority"]), _fmt(a["exported"]),
                             "yes" if a["uses_ckb"] else "no", f"{a['ckb_share']:.3f}",
                             f"{overlap:.3f}" if arm == "joint" and overlap is not None else "–"])
    return _section_lines("Images and text in one CKB: the digits network (scikit-learn's 8x8 digits, its own test "
                          "split of 359 images) and the RNN, alone and jointly imported (seed 0)",
                          ["design", "network", "import", "teacher", "CKB-backed", "CKB zeroed", "CKB random",
                           "majority", "exported", "uses the CKB", "CKB share of reads", "overlap (digits & RNN)"],
                          rows)


def _lookup_lines(designs: list[dict]) -> list[str]:
    """The store of word embeddings (`lookup.py`): its knockout and its few-label reuse."""
    knock, reuse, labels = [], [], None
    for d in designs:
        lookup = d.get("lookup", {})
        labels = lookup.get("labels", labels)
        for arch, r in lookup.get("knockout", {}).items():
            knock.append([d["design"], NAMES[arch], *(_fmt(r[k]) for k in ("teacher", "ckb_backed", "zero_ckb",
                                                                           "random_ckb", "majority")),
                          f"{r['cos']:.3f}"])
        for pair, r in lookup.get("reuse", {}).items():
            reuse.append([d["design"], pair.upper().replace("->", " → "),
                          *(_fmt(r[arm]) if arm in r else "–" for arm in LOOKUP_ARMS),
                          f"{_mean(r['imported']) - _mean(r['random']):+.2f}",
                          f"{_mean(r['imported']) - _mean(r['scratch']):+.2f}",
                          f"{_mean(r['imported']) - _mean(r['host_embeddings']):+.2f}",
                          f"{_mean(r['imported']) - _mean(r['distilled']):+.2f}" if "distilled" in r else "–"])
    return (_section_lines("The store of word embeddings: knockout (each network's embeddings imported alone, seed 0)",
                           ["design", "network", "teacher", "as imported", "zeroed", "random", "majority", "cos"],
                           knock)
            + _section_lines(f"The store of word embeddings: reuse by a newcomer trained on {labels} labels",
                             ["design", "transfer", "scratch", "host embeddings (no store)",
                              "imported store, adopted interface", "random store, adopted interface",
                              "distilled from the source host (all inputs, no labels)", "imported − random",
                              "imported − scratch", "imported − host embeddings", "imported − distilled"], reuse)
            + _lookup_capacity_lines(designs))


def _lookup_capacity_lines(designs: list[dict]) -> list[str]:
    """The store of word embeddings at three sizes: the newcomer through each, and through a random store."""
    rows = []
    for d in designs:
        cap = d.get("lookup_capacity") or {}
        for size, r in sorted(cap.get("sizes", {}).items(), key=lambda kv: int(kv[0])):
            default = " (default)" if size == cap["default"] else ""
            rows.append([d["design"], cap["transfer"].upper().replace("->", " → "), f"{int(size):,}{default}",
                         _fmt(r["cos"], 3), _fmt(r["imported"]), _fmt(cap["random"]),
                         f"{_mean(r['imported']) - _mean(cap['random']):+.2f}"])
    return _section_lines("The store of word embeddings at three sizes: the same newcomer through each (paired seeds)",
                          ["design", "transfer", "store parameters", "cos of the import", "imported store",
                           "random store (default size)", "imported − random"], rows)


def _continual_lines(designs: list[dict]) -> list[str]:
    """Growing the store (`continual.py`): accuracy after each step per method, the exports, the later imports' time."""
    grown = [(d["design"], d["continual"]) for d in designs if d.get("continual")]
    if not grown:
        return []
    order, main = grown[0][1]["order"], grown[0][1]["main_method"]
    steps, exports, cost = [], [], []
    for design, rows in grown:
        for method, r in rows["methods"].items():
            for arch in order:
                after = [_fmt(r[f"after {a}"][arch]["accuracy"]) if arch in r[f"after {a}"] else "–" for a in order]
                own, final = (_mean(r[f"after {a}"][arch]["accuracy"]) for a in (arch, order[-1]))
                steps.append([design, method, NAMES[arch], _fmt(rows["teacher"][arch]), *after,
                              f"{final - own:+.2f}" if arch != order[-1] else "–", _fmt(rows["joint"][arch])])
            ratios = {a: _mean(r["seconds"][a]) / rows["first_seconds"][a] for a in order[1:]}
            cost.append([design, method, *(f"{_mean(r['seconds'][a]):.0f} / {rows['first_seconds'][a]:.0f} = "
                                           f"{ratios[a]:.2f}x" for a in order[1:])])
        for arch, r in rows.get("exported", {}).items():
            exports.append([design, NAMES[arch], _fmt(rows["teacher"][arch][0]), _fmt(r["joint"]), _fmt(r["grown"]),
                            f"{r['grown'] - r['joint']:+.2f}"])
    names = [NAMES[a] for a in order]
    return (_section_lines(f"Growing the store: {' → '.join(names)} imported one at a time, each later import "
                           "without the earlier teachers (CKB-backed test accuracy after each step; the main method "
                           "over every seed, the others seed 0)",
                           ["design", "method", "network", "teacher", *(f"after {n}" for n in names),
                            "final − right after its import", "joint import (seed 0)"], steps)
            + _section_lines(f"Growing the store: exports (seed 0) from the joint import and from the {main} method's "
                             "final CKB", ["design", "network", "teacher", "joint import, exported",
                                           "grown CKB, exported", "grown − joint"], exports)
            + _section_lines("Growing the store: training seconds of a later import / of the same network imported "
                             "alone (same steps)", ["design", "method", *names[1:]], cost))


def _steps(values: list) -> str:
    return " / ".join("never" if s is None else str(s) for s in values)


def _memory_bank_lines(designs: list[dict]) -> list[str]:
    """Memory-bank initialisation (`memory_bank.py`): each arm's fidelity and accuracy, and its validation curve."""
    rows, marks = [], []
    for d in designs:
        bank = d.get("memory_bank")
        if not bank or "skipped" in bank:
            continue
        logged = [step for step, _ in bank["random"]["curve"][0]]
        marks = [m for m in (50, 100, 200, 300, bank["steps"]) if m in logged] or logged
        for arm in (a for a in ("random", "memory_bank", "random_half", "memory_bank_half") if a in bank):
            r = bank[arm]
            curves = [dict(c) for c in r["curve"]]
            at = [_fmt([c[m] for c in curves], 4) if all(m in c for c in curves) else "–" for m in marks]
            to_level = bank.get("steps_to_level", {}).get(arm)
            rows.append([d["design"], NAMES[bank["network"]], arm.replace("_", " "), str(max(curves[0])),
                         _fmt(r["accuracy"]), _fmt(r["cos"], 4), *at, _fmt(r["train_seconds"], 0),
                         _steps(to_level) if to_level else "–",
                         _steps(bank["steps_to_random_final"]) if arm == "memory_bank" else "–"])
    level = next((d["memory_bank"].get("level") for d in designs if "level" in d.get("memory_bank", {})), "a level")
    return _section_lines("Memory-bank initialisation: the RNN imported alone from random rows or from prototypes of "
                          "its teacher's activations (TRELM §3.2)",
                          ["design", "network", "start", "steps", "CKB-backed", "cos (test)",
                           *(f"val cos @{m}" for m in marks), "train s", f"steps to val cos {level}",
                           "steps to the random start's final val cos"], rows)
