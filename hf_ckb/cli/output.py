"""What `hf-ckb` commands write and print: the output folder, JSON files, tables."""

from __future__ import annotations

import json
import os

from .errors import CLIError


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
