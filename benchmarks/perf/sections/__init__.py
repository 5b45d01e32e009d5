"""The benchmark's sections, one module each, in the order `run.py` runs them. Each module has `FULL` and `QUICK`
(its sizes for a full run and for `--quick`) and `run(cfg, device) -> dict` (its part of results.json)."""

SECTIONS = ("attention", "recurrent", "floor", "designs", "sparse", "memory", "cache", "ddp", "gpu")
