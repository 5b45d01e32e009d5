"""The knowledge benchmark (issue 10): does the CKB hold knowledge the networks use? Both interface designs.

    python -m benchmarks.knowledge.run                     # `ci` scale, both designs (1 h 30 min with two workers)
    python -m benchmarks.knowledge.run --scale tiny        # seconds; run by tests/test_knowledge.py
    python -m benchmarks.knowledge.run --recompute-paper   # rebuild the paper design's reused rows too (~2 h more)
    python -m benchmarks.knowledge.run --designs memory --sections continual --seeds 0   # one section, one seed

Five tests per design (`sections.py`): knockout, reuse (transfer), capacity, fusion (with multi-teacher
distillation) and retention, each checked against the issue's targets (`report.py`). Run by name: two give a
newcomer a tenth of the labels, `few_labels` (through the store of another network's function) and `lookup` (the
store of the networks' word embeddings, `lookup.py`), and `lookup_capacity` measures that store at three sizes;
`images` (issue 12: images and text in one CKB); `continual` and `memory_bank` (issue 11: growing the store,
`continual.py`, and memory-bank initialisation, `memory_bank.py`).
The paper design's retention, fusion, transfer and capacity rows are the paper benchmark's own committed runs at the
same scale (`reused.py`) unless `--recompute-paper`; its knockout is computed here. Runs are kept under `--work-dir`
(the paper benchmark's layout: a killed run resumes, a finished one is loaded). Writes `results/<scale>.json` (the
issue's schema: the new design's rows at the top level, the paper's under `paper_design`) and `results/<scale>.md`.
"""

import argparse
import dataclasses
import json
import os
import tempfile
import time

import torch

from hf_ckb.interface.config import DESIGNS
from hf_ckb.utils import atomic_file

from ..paper.scales import SCALES
from ..paper.tables.t4 import ckb_parameters
from ..paper.workspace import Workspace
from .report import check_targets, format_markdown
from .reused import paper_rows
from ..paper.tables.common import seeds_for
from .sections import DEFAULT_SECTIONS, RUNNERS, SECTIONS, kd_ensemble

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
# Screening scales of this benchmark only: `ci`'s recipe on 3,000 snippets with half the steps (minutes a test), and
# the same with a store much larger than its width (n = 8 x 256 + 128 = 2,176 rows of d = 64 against the default
# 320 rows of d = 256): can an interface still re-express any CKB when the rows outnumber the width 34 to 1?
_SMALL = dataclasses.replace(SCALES["ci"], name="small", train_limit=3000, import_steps=300, export_steps=300,
                             eval_steps=150)
_WIDE_CKB = dict(num_low_level=8, low_level_size=256, high_level_size=128, hidden_size=64)
# the `sparse` design's store: 16 x 256 = 4,096 slots of d = 64 behind 64^2 product keys (266K parameters)
_SPARSE_CKB = dict(num_low_level=16, low_level_size=256, high_level_size=64, hidden_size=64)
KNOWLEDGE_SCALES = {**SCALES, "small": _SMALL,
                    "small-wide": dataclasses.replace(_SMALL, name="small-wide", small_ckb=_WIDE_CKB,
                                                      capacity=(dict(_WIDE_CKB, low_level_size=32), _WIDE_CKB)),
                    "small-sparse": dataclasses.replace(_SMALL, name="small-sparse", small_ckb=_SPARSE_CKB,
                                                        capacity=(dict(_SPARSE_CKB, num_low_level=4,
                                                                       high_level_size=32), _SPARSE_CKB))}
DEFAULT_WORK_DIR = "paper-runs"  # the paper benchmark's: its runs of the paper design are shared


def design_rows(ws: Workspace, sections, reused: dict | None) -> dict:
    """One design's sections: run, or taken from `reused` (the paper benchmark's rows) where it has them."""
    rows = {"design": ws.design, "seconds": {}}
    for section in sections:
        start = time.time()
        if reused and section in reused:  # `paper_rows` holds no knockout: that one is always built here
            rows[section] = reused[section]
            if section == "fusion":  # the peer baseline reads no interface: computed here, shared by designs
                rows[section] = {**reused[section],
                                 "kd_ensemble": [kd_ensemble(ws, s) for s in seeds_for(ws, ["rnn"])]}
        else:
            rows[section] = RUNNERS[section](ws)
        rows["seconds"][section] = round(time.time() - start, 1)  # 0 when its runs were already built
        print(f"[{ws.design}] {section}: {rows['seconds'][section]:.0f} s", flush=True)
    if "capacity" in rows:
        rows["capacity_default"] = str(ckb_parameters(ws.scale.small_ckb))
    rows["targets"] = check_targets(rows)
    return rows


def run(scale: str = "ci", designs=("memory", "paper"), sections=DEFAULT_SECTIONS, work_dir: str | None = None,
        results_dir: str = RESULTS, recompute_paper: bool = False, seeds: tuple[int, ...] | None = None) -> dict:
    """Runs the benchmark and writes `<results_dir>/<scale>.json` and `.md`; returns the results dict. `seeds`
    replaces the scale's seeds (e.g. `(0,)` for a first pass whose runs a later full run loads)."""
    recipe = KNOWLEDGE_SCALES[scale]
    recipe = dataclasses.replace(recipe, seeds=tuple(seeds)) if seeds else recipe
    with tempfile.TemporaryDirectory() as tmp:
        base = Workspace(recipe, work_dir or tmp)
        per_design = {}
        for design in designs:
            reused = paper_rows(scale) if design == "paper" and not recompute_paper else None
            per_design[design] = design_rows(base.with_design(design), sections, reused)
    main = next((d for d in designs if d != "paper"), designs[0])
    results = {**per_design[main], "scale": scale, "seeds": list(recipe.seeds),
               "threads": torch.get_num_threads()}
    if main != "paper" and "paper" in per_design:
        results["paper_design"] = per_design["paper"]
    command = f"python -m benchmarks.knowledge.run --scale {scale}"
    command += "" if tuple(designs) == ("memory", "paper") else f" --designs {' '.join(designs)}"
    command += "" if tuple(sections) == DEFAULT_SECTIONS else f" --sections {' '.join(sections)}"
    command += " --recompute-paper" if recompute_paper else ""
    command += f" --seeds {' '.join(map(str, seeds))}" if seeds else ""
    command += "" if os.path.abspath(results_dir) == RESULTS else f" --results-dir {os.path.relpath(results_dir)}"
    os.makedirs(results_dir, exist_ok=True)
    with atomic_file(os.path.join(results_dir, f"{scale}.json")) as path, open(path, "w") as f:
        json.dump(results, f, indent=2)
    with atomic_file(os.path.join(results_dir, f"{scale}.md")) as path, open(path, "w") as f:
        f.write(format_markdown(results, command) + "\n")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.knowledge.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(KNOWLEDGE_SCALES), default="ci",
                        help="tiny (a test), small, small-wide and small-sparse (screens), ci (the benchmark), full "
                             "(a GPU)")
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=["memory", "paper"],
                        help="interface designs (default: memory paper); the first that is not 'paper' is the one "
                             "the results' top level holds")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(DEFAULT_SECTIONS),
                        help="default: the five tests of issue 10; few_labels and lookup (a newcomer with a tenth "
                             "of the labels) are run by name")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR,
                        help="where runs are kept, per scale (default: paper-runs/, the paper benchmark's)")
    parser.add_argument("--results-dir", default=RESULTS)
    parser.add_argument("--recompute-paper", action="store_true",
                        help="run the paper design's sections here instead of reusing the paper benchmark's rows")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="replace the scale's seeds (its rows over several seeds), e.g. 0 for a first pass")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run(args.scale, tuple(args.designs), tuple(args.sections), os.path.join(args.work_dir, args.scale),
        args.results_dir, args.recompute_paper, args.seeds)


if __name__ == "__main__":
    main()
