"""Performance benchmark of import and export (issue #5). One command:

    python benchmarks/perf/run.py                # everything, ~15 min on 2 CPU cores; GPU part when CUDA is present
    python benchmarks/perf/run.py --quick        # tiny sizes, a smoke test of every section (~2 min)
    python benchmarks/perf/run.py --sections attention,floor --threads 2

Every figure is a ratio against a baseline measured in the same run, interleaved (A, B, A, B, ...; medians of the
per-round ratios), so load from other processes cancels out. Writes results.json and RESULTS.md next to this file
(text after the `<!-- notes -->` line of an existing RESULTS.md is kept). Each section is a module of sections/.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import log  # noqa: E402
from sections import SECTIONS  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"Comma-separated subset of {SECTIONS}.")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (CPU).")
    p.add_argument("--quick", action="store_true", help="Tiny sizes: checks that every section runs.")
    p.add_argument("--output", default=HERE, help="Folder for results.json and RESULTS.md.")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    return args


def environment(args) -> dict:
    """What the figures depend on: versions, threads, the machine and its load, the date."""
    return {
        "sections": args.sections,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu",
        "python": platform.python_version(), "quick": args.quick, "load_average_at_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def previous_results(path: str, args, env: dict) -> dict:
    """The results a full run adds to: sections not run keep their previous figures; a re-run of some sections
    keeps the full run's environment and records its own beside it."""
    results = {}
    if os.path.isfile(path) and not args.quick:
        with open(path) as f:
            results = json.load(f)
    if set(args.sections) != set(SECTIONS) and "environment" in results:
        results.setdefault("reruns", []).append(env)
    else:
        results["environment"] = env
        results.pop("reruns", None)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    path = os.path.join(args.output, "results.json")
    env = environment(args)
    results = previous_results(path, args, env)
    started = time.perf_counter()
    for name in args.sections:
        log(f"== {name}")
        section = importlib.import_module(f"sections.{name}")
        t0 = time.perf_counter()
        results[name] = section.run(section.QUICK if args.quick else section.FULL, args.device)
        results[name]["section_seconds"] = time.perf_counter() - t0
    env["total_seconds"] = time.perf_counter() - started
    env["load_average_at_end"] = os.getloadavg()
    from report import write_report
    from targets import targets

    results["targets"] = targets(results)
    os.makedirs(args.output, exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2, default=float)
    write_report(results, os.path.join(args.output, "RESULTS.md"))
    log(f"wrote {path}")
    for key, t in results["targets"].items():
        log(f"target {key}: {t['measured']:.3g} ({t['target']}) {'met' if t['met'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
