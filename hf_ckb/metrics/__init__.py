"""`evaluate` metric modules shipped inside `hf_ckb`, so they load without the Hugging Face Hub."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import evaluate

_METRICS_DIR = os.path.dirname(os.path.abspath(__file__))


def available_metrics() -> list[str]:
    """Returns the names of the metric modules shipped with `hf_ckb`, sorted."""
    return sorted(
        name
        for name in os.listdir(_METRICS_DIR)
        if os.path.isfile(os.path.join(_METRICS_DIR, name, f"{name}.py"))
    )


def metric_path(name: str = "accuracy") -> str:
    """
    Returns the path of the shipped metric script `name`.

    Raises:
        `ValueError`: if no metric of that name ships with `hf_ckb`.
    """
    path = os.path.join(_METRICS_DIR, name, f"{name}.py")
    if not name or os.sep in name or not os.path.isfile(path):
        raise ValueError(f"Unknown metric {name!r}. The metrics shipped with hf_ckb are: {available_metrics()}.")
    return path


def load_metric(name: str = "accuracy", **kwargs) -> "evaluate.EvaluationModule":
    """
    Loads a metric shipped with `hf_ckb` through `evaluate.load`, from its local script (no Hub access).

    Args:
        name (`str`, *optional*, defaults to `"accuracy"`):
            Name of the shipped metric; see [`available_metrics`].
        kwargs:
            Passed on to `evaluate.load`.

    Returns:
        `evaluate.EvaluationModule`: the metric, ready for `compute`/`add_batch`.
    """
    import evaluate

    return evaluate.load(metric_path(name), **kwargs)


__all__ = ["available_metrics", "load_metric", "metric_path"]
