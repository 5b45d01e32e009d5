"""Figures every section of the knowledge benchmark reports: percentages, a teacher's accuracy, the majority class."""

import torch

from ..paper.workspace import Workspace

RANDOM_SEED = 1000  # the knockout's random CKB (not the seed a CKB was initialised with)


def percent(fraction: float) -> float:
    return round(100 * fraction, 2)


def teacher(ws: Workspace, arch: str, seed: int) -> float:
    return percent(ws.teacher(arch, seed)[1]["accuracy"])


def majority(ws: Workspace, arch: str) -> float:
    labels = torch.tensor(ws.test_split(arch)[1]["label"])
    return percent(float(labels.bincount().max()) / len(labels))
