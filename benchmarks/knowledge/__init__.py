"""Knowledge tests of a CKB (issue 10): `python -m benchmarks.knowledge.run --help`."""
