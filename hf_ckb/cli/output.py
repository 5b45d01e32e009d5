"""What `hf-ckb` commands write and print: the output folder, JSON files, tables."""

from __future__ import annotations

import json
import os

from .errors import CLIError


def check_output_dir(path: str, option: str = "--output-dir") -> None:
    """Fails with a `CLIError` unless `path` is a folder this process can write into, or can be created as one.
    Commands call it before loading any model, so that a bad folder fails in a second and nothing is written."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"{option} {path!r} is a file; give a folder (it is created if missing).")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):  # the nearest existing ancestor is where the folder would be created
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise CLIError(f"{option} {path!r} cannot be created: {existing!r} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {path!r} is not writable (no write permission on {existing!r}); "
                       "give a folder you can write to.")


def check_resume(output_dir: str, resume: bool) -> None:
    from transformers.trainer_utils import get_last_checkpoint

    if resume and (not os.path.isdir(output_dir) or get_last_checkpoint(output_dir) is None):
        raise CLIError(f"--resume: no checkpoint-* folder in {output_dir!r} to resume from.")


def table(header: list[str], rows: list[list]) -> str:
    """A plain aligned text table; floats get 4 decimals, None shows as '-'."""
    def cell(v):
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [header] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: str, data: dict) -> None:
    from ..pipeline import save_json

    save_json(path, data)


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2)
