"""A bundle's lineage: `lineage.json`, one entry per import step that changed its CKB (issue 11).

Each entry: the step, which networks it imported and how (`method`), the CKB's fingerprint before and after, how
many CKB rows changed per level, and what was re-measured of every earlier network (its fidelity and CKB-backed
accuracy, where a labelled split was given). The card lists the steps.
"""

from __future__ import annotations

import json
import os

import torch

from .utils import atomic_file

LINEAGE_NAME = "lineage.json"


def read_lineage(directory: str) -> list[dict]:
    """The steps recorded in the bundle `directory` (oldest first); `[]` when none were."""
    path = os.path.join(directory, LINEAGE_NAME)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return json.load(f)


def append_step(directory: str, entry: dict, history: list[dict] | None = None) -> list[dict]:
    """Writes `history` (default: the bundle's own) plus `entry`, numbered, atomically; returns the new lineage."""
    steps = list(read_lineage(directory) if history is None else history)
    steps.append({"step": len(steps) + 1, **entry})
    with atomic_file(os.path.join(directory, LINEAGE_NAME)) as tmp, open(tmp, "w") as f:
        json.dump(steps, f, indent=2)
    return steps


def ckb_snapshot(ckb) -> dict[str, torch.Tensor]:
    """A copy of the CKB's matrices, to tell later which rows an import changed."""
    return {"low": ckb.low_level.detach().clone().cpu(), "high": ckb.high_level.detach().clone().cpu()}


def changed_rows(before: dict[str, torch.Tensor], ckb) -> dict[str, int]:
    """How many rows of each level differ from the `before` snapshot (`ckb_snapshot`)."""
    after = ckb_snapshot(ckb)
    return {level: int((after[level] != before[level]).flatten(0, -2).any(-1).sum()) for level in ("low", "high")}


__all__ = ["LINEAGE_NAME", "append_step", "changed_rows", "ckb_snapshot", "read_lineage"]
