"""The paper-reproduction suite (benchmarks/paper) at its `tiny` scale: every table's code path runs end to end in
seconds on a few examples, writes its results, shares artifacts between tables, and resumes after a kill."""

import json
import math
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.paper import paper  # noqa: E402
from benchmarks.paper.report import ORDER, fmt, stat  # noqa: E402
from benchmarks.paper.run import main  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from hf_ckb.data import pattern_corpus_path

    try:
        pattern_corpus_path("tagged-en-wsj.txt")
    except FileNotFoundError:
        pytest.skip("B.7 needs the WSJ POS sample: run scripts/install.sh")
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("paper")
    results = main(["--scale", "tiny", "--work-dir", str(out / "work"), "--results-dir", str(out / "results")])
    return out, results


def cells(entry):
    return [c for row in entry["rows"] for c in row if isinstance(c, dict)]


def test_every_table_ran_with_a_figure_per_seed(tiny):
    _, results = tiny
    assert list(results) == list(ORDER)
    for key, entry in results.items():
        stats = cells(entry)
        assert stats, key
        for cell in stats:
            assert cell["n"] == 1 and math.isfinite(cell["mean"]), (key, cell)
        assert entry["seconds"] > 0, key
        assert entry["command"].startswith("python -m benchmarks.paper.run")


def test_accuracies_are_percentages_and_fidelity_is_raw(tiny):
    t1 = tiny[1]["t1"]
    header = t1["header"]
    for row in t1["rows"]:
        for column in ("teacher", "CKB-backed", "exported"):
            assert 0 <= row[header.index(column)]["mean"] <= 100
        assert -1 <= row[header.index("fidelity cos")]["mean"] <= 1
        assert row[header.index("fidelity rel. L2")]["mean"] >= 0


def test_paper_figures_sit_beside_ours(tiny):
    results = tiny[1]
    rnn = results["t1"]["rows"][0]
    assert rnn[0] == "RNN" and "84.30 → 84.40" in rnn
    fused = next(r for r in results["t2"]["rows"] if r[0] == "{RNN, CNN} ↔ CKB ↔ RNN")
    assert paper.TABLE2["fused"][(("rnn", "cnn"), "rnn")] in fused
    assert [r[-1] for r in results["t3"]["rows"]] == [f"{v:.2f}" for v in paper.TABLE3.values()]


def test_tables_share_runs(tiny):
    """Table 2's same-steps control is Table 1's single import + export: the very same artifact and figure."""
    results = tiny[1]
    t1_rnn = results["t1"]["rows"][0][results["t1"]["header"].index("exported")]
    fused = next(r for r in results["t2"]["rows"] if r[0] == "{RNN, CNN} ↔ CKB ↔ RNN")
    assert fused[results["t2"]["header"].index("control: same steps, no fusion")] == t1_rnn


def test_results_files_hold_every_table(tiny):
    out, results = tiny
    with open(out / "results" / "tiny.json") as f:
        assert json.load(f) == results
    markdown = (out / "results" / "tiny.md").read_text()
    for entry in results.values():
        assert f"## {entry['title']}" in markdown
        assert fmt(cells(entry)[0]) in markdown


def test_a_killed_run_redoes_only_the_unfinished_artifact(tiny, capsys):
    out, _ = tiny
    work = out / "work"
    os.remove(work / "exports" / "cnn-to-cnn-s0" / "metrics.json")  # as if killed while exporting the CNN
    capsys.readouterr()
    again = main(["--tables", "t1", "--scale", "tiny", "--work-dir", str(work), "--results-dir", str(out / "again")])
    rebuilt = [line for line in capsys.readouterr().out.splitlines() if line.startswith("=== ")]
    assert rebuilt == ["=== exports/cnn-to-cnn-s0"]
    assert again["t1"]["rows"][0] == tiny[1]["t1"]["rows"][0]  # the RNN's runs were loaded as they were
    assert (work / "exports" / "cnn-to-cnn-s0" / "metrics.json").is_file()


def test_stat_reports_mean_std_over_seeds():
    s = stat([0.70, 0.72, 0.74])
    assert s["n"] == 3 and s["mean"] == pytest.approx(72.0) and s["std"] == pytest.approx(2.0)
    assert fmt(s) == "72.00 ± 2.00 (3)"
    assert fmt(stat([0.5])) == "50.00" and fmt(stat([])) == "–"


def test_a_rerun_keeps_the_hand_written_discussion(tmp_path):
    from benchmarks.paper.report import NOTES_MARKER, record, table

    entry = table("T", ["a"], [[stat([0.5])]])
    record(str(tmp_path), "x", "t1", entry, 1.0, "cmd")
    path = tmp_path / "x.md"
    path.write_text(path.read_text() + f"{NOTES_MARKER}\n## Why\nbecause\n")
    record(str(tmp_path), "x", "t1", table("T", ["a"], [[stat([0.6])]]), 1.0, "cmd")
    text = path.read_text()
    assert "60.00" in text and "50.00" not in text and text.endswith(f"{NOTES_MARKER}\n## Why\nbecause\n")


def test_parallel_workers_build_each_run_once(tmp_path, capfd):
    """`--jobs 2`: two worker processes share the work dir; the lock makes the second wait for a run the first is
    building rather than build it too, and the final pass writes the results."""
    results = main(["--tables", "t4", "b5", "--scale", "tiny", "--jobs", "2", "--work-dir", str(tmp_path / "work"),
                    "--results-dir", str(tmp_path / "results")])
    out = capfd.readouterr().out.splitlines()
    built = [line for line in out if line.startswith("=== ")]
    assert built and len(built) == len(set(built)), built
    titles = [line for line in out if line.startswith("##### ")]
    assert titles[0] != titles[1], titles  # each worker starts at another table (not both at the first)
    assert "=== teachers/rnn-s0" in built and "=== teachers/ann-s0" in built
    assert list(results) == ["t4", "b5"] and (tmp_path / "results" / "tiny.md").is_file()
