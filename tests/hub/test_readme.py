"""Every shell and Python example of the README runs, in order, as a user would paste it: in one empty folder,
against the loopback Hub (its push/pull and `from_pretrained("my-org/...")` examples are real round trips).

The README uses the real defaults (minutes of training); here each command gets flags that shrink it to seconds,
and each Python block a few textual substitutions. Both are keyed by the README's own text and every key must
match, so an example that changes without this file fails here instead of drifting.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
SMALL = ["--max-length", "24"]
FAST_FLAGS = {  # appended to the commands that start with these words
    "hf-ckb quickstart": ["--limit", "200", "--finetune-epochs", "1", "--import-steps", "4", "--export-steps", "4",
                          "--max-length", "24"],
    "hf-ckb finetune": ["--epochs", "0.05", "--vocab-size", "300", *SMALL],
    "hf-ckb import": ["--steps", "4", "--eval-steps", "2", *SMALL],
    "hf-ckb export": ["--steps", "4", "--eval-steps", "2", *SMALL],
    "hf-ckb evaluate": SMALL,
    "hf-ckb inspect": SMALL,
    "hf-ckb adapt": ["--steps", "4", "--eval-steps", "2", *SMALL],
}
PYTHON_SUBSTITUTIONS = {"steps=600)": "steps=4)", "max_length=64)": "max_length=24)", "epochs=20,": "epochs=0.1,"}
SETUP = ("make quickstart", "make test")  # the README's install commands: CI runs them itself


def readme_blocks() -> list[tuple[str, str]]:
    """`(language, code)` of every ```bash and ```python block, in order."""
    return re.findall(r"```(bash|python)\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def shell_commands(code: str) -> list[list[str]]:
    commands = []
    for line in code.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith(SETUP):
            commands.append(shlex.split(line))
    return commands


def fast(argv: list[str], used: set) -> list[str]:
    for prefix, flags in FAST_FLAGS.items():
        if " ".join(argv).startswith(prefix):
            used.add(prefix)
            return argv + flags
    return argv


def quickstart_command() -> list[str]:
    """The command `make quickstart` runs after installing, read from the Makefile."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    (line,) = [l.strip() for l in makefile.splitlines() if l.strip().startswith("hf-ckb quickstart")]
    return shlex.split(line)


def run(argv: list[str], env: dict, cwd) -> None:
    if argv[0] == "hf-ckb":  # the console script of this checkout, whichever python runs the tests
        argv = [sys.executable, "-m", "hf_ckb.cli", *argv[1:]]
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{shlex.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.mark.slow
def test_every_readme_example_runs(hub_env, tmp_path):
    blocks = readme_blocks()
    assert [lang for lang, _ in blocks].count("python") >= 3 and any("hf-ckb push" in c for _, c in blocks)
    used: set = set()
    run(fast(quickstart_command(), used), hub_env, tmp_path)  # the bundle the examples read
    for lang, code in blocks:
        if lang == "bash":
            for argv in shell_commands(code):
                run(fast(argv, used), hub_env, tmp_path)
            continue
        for old, new in PYTHON_SUBSTITUTIONS.items():
            if old in code:
                used.add(old)
                code = code.replace(old, new)
        run([sys.executable, "-c", code], hub_env, tmp_path)
    assert used == set(FAST_FLAGS) | set(PYTHON_SUBSTITUTIONS), "README examples changed: update this test's keys"
    # what the examples left: a pulled bundle, a new bundle with an exported network, a saved interface
    for path in ("rt-ckb/config.json", "kb/exported/rnn/config.json", "my-kb/exported/rnn/config.json",
                 "my-interface/interface_config.json", "models/cnn/config.json", "kb-ann/exported/ann/config.json",
                 "kb-words2/lineage.json", "models/digits/preprocessor_config.json",
                 "ckb-quickstart/inspect/knockout.png", "kb-images/inspect/inspect.json"):
        assert (tmp_path / path).is_file(), path
