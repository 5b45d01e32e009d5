"""Reproduces the paper's tables on the data that ships offline, ours beside the paper's figures.

    python -m benchmarks.paper.run                      # every table at `ci` scale (2 CPU cores, about an hour)
    python -m benchmarks.paper.run --tables t1 t2       # some tables
    python -m benchmarks.paper.run --scale full         # the paper's sizes, for a GPU machine

Writes benchmarks/paper/results/<scale>.{json,md} (a table run again replaces only its own entry) and keeps every
trained network under --work-dir, so tables share work and a killed run resumes where it stopped.
"""

import argparse
import importlib
import os
import shlex
import sys
import time

import torch

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
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tables = list(ORDER) if "all" in args.tables else [t for t in ORDER if t in args.tables]
    ws = Workspace(SCALES[args.scale], args.work_dir or os.path.join("paper-runs", args.scale))
    command = "python -m benchmarks.paper.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = {}
    for key in tables:
        print(f"\n##### {TITLES[key]} at {args.scale} scale", flush=True)
        start, ws.used = time.time(), set()
        entry = importlib.import_module(f".tables.{key}", __package__).run(ws)
        entry["compute_seconds"] = round(ws.compute_seconds(), 1)
        results = record(args.results_dir, args.scale, key, entry, time.time() - start, command)
    print(f"\nResults: {os.path.join(args.results_dir, args.scale)}.md")
    return results


if __name__ == "__main__":
    main()
