"""Helpers the tables share: seeds per row, names, per-seed statistics."""

from ..report import stat

NAMES = {"rnn": "RNN", "rnn64": "RNN-64", "cnn": "CNN", "ann": "ANN", "minilm": "MiniLM", "decoder": "decoder",
         "pos": "ANN (2L) POS"}


def seeds_for(ws, archs) -> tuple[int, ...]:
    """All seeds for the RNN/CNN rows whose sub-point differences are claimed; the cheaper count elsewhere."""
    return ws.scale.seeds if set(archs) <= {"rnn", "cnn"} else ws.scale.other_seeds


def over_seeds(fn, seeds, percent: bool = True) -> dict:
    """`stat` of `fn(seed)` over `seeds`: in % (accuracies), or as is with 3 decimals (fidelity)."""
    return stat([fn(s) for s in seeds], percent=percent, digits=2 if percent else 3)


def diff_over_seeds(a, b, seeds) -> dict:
    """`stat` (in points) of the paired per-seed difference `a(seed) - b(seed)`."""
    return stat([a(s) - b(s) for s in seeds])


def name(arch: str) -> str:
    return NAMES.get(arch, arch)


def group(archs) -> str:
    return "{" + ", ".join(name(a) for a in archs) + "}"
