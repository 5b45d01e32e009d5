"""Bad data and bad output folders stop `hf-ckb` with exit status 2 and one line on stderr, before anything is
written (and, for the output folder, before any model or dataset is loaded)."""

from __future__ import annotations

import os

import pytest

from hf_ckb.cli import main

ROWS = "".join(f"w{i} w{i + 1},{'pos' if i % 2 else 'neg'}\n" for i in range(2, 22))
FINETUNE = ["finetune", "--architecture", "rnn", "--epochs", "1", "--vocab-size", "60", "--max-length", "16"]


def one_line_error(capsys, *argv) -> str:
    """Runs `hf-ckb argv`; asserts exit status 2 and a single `hf-ckb: error:` line, the last, without a
    traceback; returns that line."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("hf-ckb: error:")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    return errors[0]


@pytest.mark.parametrize("content, fragments", [
    ("text,label\n" + ROWS + ",pos\n,neg\n", ["Column 'text'", "2 empty cell(s)", "fill or drop"]),
    ("text,label\n" + ROWS + "w3 w9,\n", ["Column 'label'", "1 empty cell(s)"]),
    ("text,label\nw2,pos\n", ["1 row(s)", "at least 2"]),
    (("text,label\n" + ROWS + "caf\xe9,pos\n").encode("latin-1"), ["not UTF-8", "iconv -f latin1 -t utf-8"]),
], ids=["empty-text", "empty-label", "one-row", "latin-1"])
def test_finetune_bad_data(capsys, tmp_path, content, fragments):
    data = tmp_path / "data.csv"
    data.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "model"
    message = one_line_error(capsys, *FINETUNE, "--dataset", data, "--output-dir", out)
    for fragment in fragments:
        assert fragment in message, message
    assert not out.exists()


def test_finetune_needs_two_classes(capsys, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"w{i},pos\n" for i in range(2, 22)))
    out = tmp_path / "model"
    message = one_line_error(capsys, *FINETUNE, "--dataset", data, "--output-dir", out)
    assert "1 class (pos)" in message and "at least 2" in message
    assert not out.exists()


# Every command that writes, with a model/bundle/repo that does not exist: the output folder is checked first.
WRITERS = {
    "finetune": ["finetune", "--model", "no-such-dir/", "--dataset", "no-such.csv"],
    "import": ["import", "--network", "rnn=no-such-dir/", "--dataset", "no-such.csv"],
    "export": ["export", "--bundle", "no-such-dir/", "--network", "rnn", "--dataset", "no-such.csv"],
    "quickstart": ["quickstart"],
    "pull": ["pull", "no-such-user/no-such-repo"],
}


@pytest.mark.parametrize("command", WRITERS)
def test_output_dir_that_is_a_file(capsys, tmp_path, command):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    message = one_line_error(capsys, *WRITERS[command], "--output-dir", target)
    assert f"--output-dir '{target}' is a file" in message
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("command", ["finetune", "import"])
def test_output_dir_below_a_file(capsys, tmp_path, command):
    (tmp_path / "results.txt").write_text("")
    message = one_line_error(capsys, *WRITERS[command], "--output-dir", tmp_path / "results.txt" / "run")
    assert "cannot be created" in message and "results.txt' is a file" in message


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_output_dir_not_writable(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    message = one_line_error(capsys, *WRITERS["finetune"], "--output-dir", locked / "run")
    assert "not writable" in message and str(locked) in message
    assert not (locked / "run").exists()
