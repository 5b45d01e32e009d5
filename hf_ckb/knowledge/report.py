"""The knowledge-accounting report on disk: `inspect/inspect.json` and its two plots, inside the bundle.

    inspect/inspect.json   the report of `hf_ckb.knowledge.inspect` (pushed with the bundle; the card reads it)
    inspect/knockout.png   per network: host, CKB-backed as imported, zeroed and random CKB; the majority class
    inspect/reads.png      a network x CKB-row heat map of the mean read weight (the slot-use profiles)

Figures are drawn with matplotlib's object API (no pyplot: no global figure registry, no display needed).
"""

from __future__ import annotations

import json
import os

from ..layout import INSPECT
from ..utils import atomic_file

REPORT_NAME = "inspect.json"
PLOTS = {"knockout": "knockout.png", "reads": "reads.png"}


def write_report(bundle_dir: str, report: dict) -> dict[str, str]:
    """Writes the report and its plots into `bundle_dir/inspect/` (each file atomically), then refreshes the
    bundle's cards (unless a user edited them) so they show it. Returns `{what: path}` of the files written."""
    from ..bundle import update_results

    folder = os.path.join(bundle_dir, INSPECT)
    paths = {"report": os.path.join(folder, REPORT_NAME)}
    with atomic_file(paths["report"]) as tmp, open(tmp, "w") as f:
        json.dump(report, f, indent=2)
    if report["interfaces"]:
        for what, draw in (("knockout", knockout_figure), ("reads", reads_figure)):
            paths[what] = os.path.join(folder, PLOTS[what])
            with atomic_file(paths[what]) as tmp:
                draw(report).savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    update_results(bundle_dir, {})
    return paths


def read_report(bundle_dir: str) -> dict | None:
    """The report saved in a bundle, or None when it was never inspected."""
    path = os.path.join(bundle_dir, INSPECT, REPORT_NAME)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def knockout_figure(report: dict):
    """Grouped bars per network: the host, then the CKB-backed network with the CKB as imported, zeroed, random;
    a dashed line at each network's majority class."""
    from matplotlib.figure import Figure

    names = sorted(report["interfaces"])
    bars = [("host", "host", "#7f7f7f"), ("imported", "CKB as imported", "#1f77b4"),
            ("zero", "CKB zeroed", "#d62728"), ("random", "CKB random", "#ff7f0e")]
    fig = Figure(figsize=(1.8 + 1.6 * len(names), 3.4))
    ax = fig.add_subplot()
    width = 0.8 / len(bars)
    for j, (key, label, color) in enumerate(bars):
        values = [_accuracy(report["interfaces"][n], key) for n in names]
        ax.bar([i + (j - 1.5) * width for i in range(len(names))], values, width, label=label, color=color)
    for i, n in enumerate(names):
        ax.hlines(report["interfaces"][n]["majority"], i - 0.45, i + 0.45, colors="black", linestyles="dashed",
                  label="majority class" if i == 0 else None)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Knockout: what each network loses without the CKB")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def _accuracy(entry: dict, key: str) -> float:
    return entry["host_accuracy"] if key == "host" else entry["knockout"][key].get("accuracy", float("nan"))


def reads_figure(report: dict):
    """A heat map, one row per network, one column per CKB row (the low-level matrices' rows, then the high-level
    rows): the mean weight each network's queries put on each row, each level scaled to its own maximum."""
    import numpy as np
    from matplotlib.figure import Figure

    names = sorted(report["profiles"])
    K, n_l = report["ckb"]["low_level"][:2]
    profiles = np.array([report["profiles"][n] for n in names])
    low, high = profiles[:, :K * n_l], profiles[:, K * n_l:]
    scaled = np.concatenate([low / max(low.max(), 1e-12), high / max(high.max(), 1e-12)], axis=1)
    fig = Figure(figsize=(9, 1.2 + 0.45 * len(names)))
    ax = fig.add_subplot()
    image = ax.imshow(scaled, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1)
    for k in range(1, K + 1):  # matrix boundaries; the last one separates the levels
        ax.axvline(k * n_l - 0.5, color="white", linewidth=1.5 if k == K else 0.4)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"CKB row: {K} low-level matrices of {n_l} rows | {high.shape[1]} high-level rows")
    ax.set_title("Slot use: mean read weight per CKB row (each level scaled to its maximum)")
    fig.colorbar(image, ax=ax, fraction=0.03)
    return fig


__all__ = ["PLOTS", "REPORT_NAME", "knockout_figure", "read_report", "reads_figure", "write_report"]
