"""One module per table of the paper; each `run(ws)` returns a `report.table` entry."""
