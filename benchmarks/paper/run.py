"""Reproduces the paper's tables on the data that ships offline, ours beside the paper's figures.

    python -m benchmarks.paper.run                      # every table at `ci` scale (2 CPU cores, about an hour)
    python -m benchmarks.paper.run --tables t1 t2       # some tables
    python -m benchmarks.paper.run --jobs 2             # two worker processes (2 CPU cores: half the wall time)
    python -m benchmarks.paper.run --scale full         # the paper's sizes, for a GPU machine
    python -m benchmarks.paper.run --design memory      # the tables with the 'memory' interface design

Writes benchmarks/paper/results/<scale>.{json,md} (`<scale>-<design>.*` for a design other than the paper's; a
table run again replaces only its own entry) and keeps every
trained network under --work-dir, so tables share work and a killed run resumes where it stopped.
"""

import argparse
import importlib
import os
import shlex
import subprocess
import sys
import tempfile
import time

import torch

from hf_ckb.interface.config import DESIGNS

from .report import ORDER, record
from .scales import SCALES
from .workspace import Workspace

HERE = os.path.dirname(os.path.abspath(__file__))
TITLES = {"t1": "Table 1 (single network in and out)", "t2": "Table 2 (fusion, with controls)",
          "t3": "Table 3 (across architectures)", "t4": "Table 4 (CKB capacity)",
          "b5": "Table B.5 (distillation through the CKB)", "b6": "Table B.6 (transfer learning)",
          "b7": "Table B.7 (networks of different tasks)"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paper.run", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="tables: " + "; ".join(f"{k} = {v}" for k, v in TITLES.items()))
    parser.add_argument("--tables", nargs="+", default=["all"], choices=["all", *ORDER], metavar="TABLE",
                        help="tables to run (default: all): " + " ".join(ORDER))
    parser.add_argument("--scale", default="ci", choices=sorted(SCALES), help="run sizes (default: ci)")
    parser.add_argument("--work-dir", default=None, help="where trained networks are kept (default: "
                        "./paper-runs/<scale>)")
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"), help="where <scale>.json/.md go")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--design", default="paper", choices=DESIGNS,
                        help="the interface design of every interface (default: the paper's reading); teachers are "
                             "shared between designs in one work dir")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes that build the runs side by side (one "
                        "torch thread each; on 2 cores, --jobs 2 halves the wall time), then one pass writes the "
                        "results")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # in the order given: the workers of --jobs each start at another table (sorting them would line them up again,
    # each waiting for the artifact the other is building); the results file orders the tables itself
    tables = list(ORDER) if "all" in args.tables else list(dict.fromkeys(args.tables))
    work_dir = args.work_dir or os.path.join("paper-runs", args.scale)
    if args.jobs > 1:
        build_in_parallel(args, tables, work_dir)
    ws = Workspace(SCALES[args.scale], work_dir, args.design)
    stem = args.scale if args.design == "paper" else f"{args.scale}-{args.design}"
    command = "python -m benchmarks.paper.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = {}
    for key in tables:
        print(f"\n##### {TITLES[key]} at {args.scale} scale", flush=True)
        start = time.time()
        entry = importlib.import_module(f".tables.{key}", __package__).run(ws)
        results = record(args.results_dir, stem, key, entry, time.time() - start, command)
    print(f"\nResults: {os.path.join(args.results_dir, stem)}.md")
    return results


def build_in_parallel(args, tables: list[str], work_dir: str) -> None:
    """Runs `args.jobs` workers over the tables, each starting at a different table, into the shared work dir:
    a run one worker is building, another waits for (`Workspace.artifact`'s lock) instead of building it twice.
    Their results files are scratch; the caller's pass over the finished runs writes the real ones."""
    with tempfile.TemporaryDirectory() as scratch:
        workers = []
        for j in range(args.jobs):
            order = tables[j * len(tables) // args.jobs:] + tables[:j * len(tables) // args.jobs]
            command = [sys.executable, "-m", "benchmarks.paper.run", "--tables", *order, "--scale", args.scale,
                       "--work-dir", work_dir, "--results-dir", os.path.join(scratch, str(j)), "--threads", "1",
                       "--design", args.design]
            workers.append(subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}))
        failed = [w.args for w in workers if w.wait() != 0]
    if failed:
        raise SystemExit(f"{len(failed)} worker(s) failed: {failed}")


if __name__ == "__main__":
    main()
