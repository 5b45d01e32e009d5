"""Reproduction of the paper's tables (issue #3): `python -m benchmarks.paper.run --help`."""
