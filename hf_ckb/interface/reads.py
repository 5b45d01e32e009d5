"""What an interface reads in the CKB: running totals of the read weight each CKB row receives (issue 12's slot use).

Every design reads the store in two levels (Eq. 7-9): a query's weights over the rows of each low-level matrix
`M^l_k`, then over the high-level rows `M^h` (for the `sparse` design: over the slots, low-level rows, and the
first sub-keys, high-level rows). A block given a `SlotReads` adds, per query row and averaged over heads:

- `low`: `(..., K, n_l)`, the weight on each low-level row;
- `high`: `(..., n_h)`, the weight on each high-level row;
- `ckb_share`: `(...)`, the part of the block's attention read that came from CKB rows rather than from its own
  input rows (the paper's `M~`; 1 for the designs that read only the CKB). The paper's residual and feed-forward
  paths are not attention reads: their share shows in the knockout, not here.

Totals are kept in float64 on the CPU, so a long pass over a dataset adds up exactly enough and costs no device memory.
"""

import math

import torch


class SlotReads:
    """Running totals of one interface's reads; `summary()` turns them into the figures `hf-ckb inspect` reports."""

    def __init__(self):
        self.rows = 0
        self.low = self.high = None  # summed weight per row of the store: (K, n_l), (n_h,)
        self.low_hit = self.high_hit = None  # rows read above 1/n (n: the rows of their softmax) by some query
        self.ckb_share = 0.0

    @torch.no_grad()
    def add(self, low: torch.Tensor, high: torch.Tensor, ckb_share: torch.Tensor) -> None:
        low = low.reshape(-1, *low.shape[-2:]).double().cpu()
        high = high.reshape(-1, high.shape[-1]).double().cpu()
        if self.low is None:
            self.low, self.high = torch.zeros(low.shape[1:], dtype=torch.float64), torch.zeros(high.shape[1],
                                                                                             dtype=torch.float64)
            self.low_hit, self.high_hit = torch.zeros(self.low.shape, dtype=torch.bool), torch.zeros(
                self.high.shape, dtype=torch.bool)
        self.rows += low.shape[0]
        self.low += low.sum(0)
        self.high += high.sum(0)
        self.low_hit |= (low > 1.0 / low.shape[-1]).any(0)
        self.high_hit |= (high > 1.0 / high.shape[-1]).any(0)
        self.ckb_share += float(ckb_share.double().sum())

    def profile(self) -> torch.Tensor:
        """Mean read weight of every CKB row over the query rows seen: the low-level rows (flattened), then the
        high-level rows. Two interfaces' profiles are comparable when they read one CKB."""
        self._check()
        return torch.cat([self.low.flatten(), self.high]) / self.rows

    def summary(self) -> dict:
        """`{"query_rows", "ckb_share", "low": {...}, "high": {...}}`; per level: `effective_slots` (exp of the
        entropy of the mean read distribution over its rows), `slots` (its rows), `fraction_read` (the fraction of
        its rows some query read above 1/n: n = n_l for a low-level row, n_h for a high-level one, so a row counts
        when a query put more on it than an even spread over its matrix would)."""
        self._check()
        levels = {"low": (self.low.flatten(), self.low_hit), "high": (self.high, self.high_hit)}
        return {"query_rows": self.rows, "ckb_share": self.ckb_share / self.rows,
                **{name: _level_summary(total / self.rows, hit) for name, (total, hit) in levels.items()}}

    def _check(self) -> None:
        if not self.rows:
            raise ValueError("No reads were recorded: the interface was never run on a query row.")


def _level_summary(mean: torch.Tensor, hit: torch.Tensor) -> dict:
    total = float(mean.sum())
    p = mean / total if total > 0 else torch.full_like(mean, 1.0 / mean.numel())  # nothing read: say uniform
    entropy = float(-(p * p.clamp_min(1e-30).log()).sum())
    return {"effective_slots": math.exp(entropy), "slots": mean.numel(), "fraction_read": float(hit.double().mean())}


def profile_overlap(a: torch.Tensor, b: torch.Tensor, low_slots: int) -> float:
    """How alike two interfaces' slot preferences are: the cosine similarity of their slot-use profiles
    (`SlotReads.profile`, the first `low_slots` entries the low level) after each level's mean is taken out.

    Centred, because two interfaces that both spread their reads evenly prefer no row, and a plain cosine of two
    near-uniform profiles is near 1. Here 1 means they favour the same rows in the same proportions, 0 unrelated
    preferences (or none: a profile with no preference counts as 0), -1 opposite ones."""
    def centred(p: torch.Tensor) -> torch.Tensor:
        return torch.cat([p[:low_slots] - p[:low_slots].mean(), p[low_slots:] - p[low_slots:].mean()])

    a, b = centred(a), centred(b)
    norms = float(a.norm() * b.norm())
    return float(a @ b) / norms if norms > 1e-12 else 0.0


__all__ = ["SlotReads", "profile_overlap"]
