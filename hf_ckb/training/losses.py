"""The difference Δ between an interface and the function it imitates (Eq. 15, 21), and fidelity measures.

`1 - cos` (the paper's Δ) leaves each output vector's norm untrained, which hurts anything downstream that reads
magnitudes (max-pooling, a classifier); design §7 measured MSE doing better. `nmse` is the MSE divided by the
target's mean square, so that the losses of several networks with different activation scales add up fairly.
"""

import torch
import torch.nn.functional as F


def _dense(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """float32, contiguous. A reduction over a strided last dim sums in another order than over a contiguous one, and
    the same values arrive in both layouts: a CNN's convolutions return a transposed view, the teacher cache a
    contiguous copy. Without this the cached and the uncached step of the same batch differed in the last bits,
    and a resumed import (which re-runs the hosts where the uninterrupted run read the cache) drifted away."""
    return tuple(t.float().contiguous() for t in tensors)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    # values: (B, T) or (B,); mask: (B, T) of 0/1
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1)


def _cosine(pred, target):
    return F.cosine_similarity(pred.float(), target.float(), dim=-1, eps=1e-8)  # (B, T)


def _squared_error(pred, target):
    return (pred.float() - target.float()).pow(2).mean(-1)  # (B, T)


def _nmse(pred, target, mask):
    scale = _masked_mean(target.float().pow(2).mean(-1), mask).detach().clamp_min(1e-8)
    return _masked_mean(_squared_error(pred, target), mask) / scale


LOSSES = {
    "cosine": lambda p, t, m: _masked_mean(1 - _cosine(p, t), m),
    "mse": lambda p, t, m: _masked_mean(_squared_error(p, t), m),
    "nmse": _nmse,
    "cosine+nmse": lambda p, t, m: _masked_mean(1 - _cosine(p, t), m) + _nmse(p, t, m),
}


def imitation_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, kind: str = "nmse"):
    """Δ(pred, target) averaged over the real positions: one of `LOSSES` ('cosine', 'mse', 'nmse', 'cosine+nmse')."""
    if kind not in LOSSES:
        raise ValueError(f"Unknown loss {kind!r}; choose one of {sorted(LOSSES)}.")
    return LOSSES[kind](*_dense(pred, target), mask)


@torch.no_grad()
def fidelity_sums(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> dict[str, float]:
    """Sums over real positions, to be added up over batches and divided by `count`:
    `cosine` (direction) and the squared error and target energy behind `rel_l2 = ||y - ŷ|| / ||y||` (magnitude)."""
    pred, target = _dense(pred, target)
    weight = torch.ones(pred.shape[:-1], device=pred.device) if mask is None else mask.float()
    return {"cosine": float((_cosine(pred, target) * weight).sum()),
            "sq_err": float(((pred.float() - target.float()).pow(2).sum(-1) * weight).sum()),
            "sq_ref": float((target.float().pow(2).sum(-1) * weight).sum()),
            "count": float(weight.sum())}


def summarise_fidelity(sums: dict[str, float]) -> dict[str, float]:
    """`cosine` (mean over positions, 1 is perfect) and `rel_l2` (0 is perfect) from added-up `fidelity_sums`."""
    count = max(sums.get("count", 0.0), 1.0)
    return {"cosine": sums.get("cosine", 0.0) / count,
            "rel_l2": (sums.get("sq_err", 0.0) / max(sums.get("sq_ref", 0.0), 1e-12)) ** 0.5}
