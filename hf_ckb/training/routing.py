"""Knowledge routing for a later import (issue 11; TRELM, seed 001 §3.3): update only the CKB rows the new networks
need and the earlier networks use least.

Each row gets two attributions, the cheap gradient x activation score (TRELM uses integrated gradients for feed-forward
neurons; this is its first-order term), summed over a few batches:

- *need*: `|row . d(import loss of the new networks)/d(row)|`;
- *use*: `|row . d(sum of squares of an earlier network's CKB-backed logits)/d(row)|`: how much its outputs lean on the
  row; no earlier teacher is run.

A row's score is its need over its use (each normalised to mean 1 per level): the TF-IDF-like ranking of Lin et al.
2025's sparse memory fine-tuning (rows the new data reads often and the stored networks read rarely). The top
`fraction` of each level are selected; `RowRouting` masks the gradient of every other row during training and puts
them back bit for bit afterwards (the optimiser's weight decay would otherwise move them).
"""

from __future__ import annotations

import torch


def row_attribution(ckb, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    """`|row . dloss/drow|` per row of each level: `{"low": (K, n_l), "high": (n_h,)}`."""
    grads = torch.autograd.grad(loss, [ckb.low_level, ckb.high_level], allow_unused=True)
    out = {}
    for level, param, grad in (("low", ckb.low_level, grads[0]), ("high", ckb.high_level, grads[1])):
        grad = torch.zeros_like(param) if grad is None else grad
        out[level] = (param.detach() * grad).sum(-1).abs()
    return out


def select_rows(need: dict[str, torch.Tensor], use: dict[str, torch.Tensor] | None, fraction: float,
                eps: float = 1e-3) -> dict[str, torch.Tensor]:
    """Boolean masks of the rows to update: the top `fraction` of each level by need / use."""
    if not 0 < fraction <= 1:
        raise ValueError(f"The routed fraction must be in (0, 1], got {fraction}.")
    masks = {}
    for level, n in need.items():
        score = n / n.mean().clamp_min(1e-12)
        if use is not None:
            u = use[level]
            score = score / (u / u.mean().clamp_min(1e-12) + eps)
        k = max(1, round(fraction * score.numel()))
        mask = torch.zeros(score.numel(), dtype=torch.bool, device=score.device)
        mask[score.flatten().topk(k).indices] = True
        masks[level] = mask.view(score.shape)
    return masks


def route(module, train_sets: dict, earlier: dict, anchor_sets: dict, tokenizers: dict, fraction: float,
          batches: int = 4, batch_size: int = 32) -> dict[str, torch.Tensor]:
    """The row masks of a routed import: need from `batches` batches of each new network's `train_sets` through the
    import `module`, use from as many of each earlier network's `anchor_sets` (networks without one are not
    counted)."""
    need = _accumulate(module.ckb, {n: (ds, tokenizers[n]) for n, ds in train_sets.items()}, batches, batch_size,
                       lambda name, inputs: module(**{name: inputs})["loss"])
    sets = {n: (anchor_sets[n], tokenizers[n]) for n in earlier if n in anchor_sets}
    use = None
    if sets:
        use = _accumulate(module.ckb, sets, batches, batch_size,
                          lambda name, inputs: _output_energy(earlier[name], inputs))
    return select_rows(need, use, fraction)


def _output_energy(net, inputs) -> torch.Tensor:
    with net.mode("interface"):
        return net(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")).logits.pow(2).sum()


def _accumulate(ckb, sets: dict, batches: int, batch_size: int, loss_of) -> dict[str, torch.Tensor]:
    from torch.utils.data import DataLoader

    from ..data import labelled_collator

    total = None
    for name, (dataset, tokenizer) in sets.items():
        loader = DataLoader(dataset.remove_columns([c for c in ("label", "labels") if c in dataset.column_names]),
                            batch_size=batch_size, shuffle=False, collate_fn=labelled_collator(tokenizer))
        for i, inputs in enumerate(loader):
            if i == batches:
                break
            scores = row_attribution(ckb, loss_of(name, inputs))
            total = scores if total is None else {k: total[k] + scores[k] for k in scores}
    return total


class RowRouting:
    """While active, only the selected rows of the CKB learn; on `close()` the others get their values back."""

    def __init__(self, ckb, masks: dict[str, torch.Tensor]):
        self.ckb, self.masks = ckb, masks
        params = {"low": ckb.low_level, "high": ckb.high_level}
        self.saved = {level: p.detach().clone() for level, p in params.items()}
        self.hooks = [p.register_hook(lambda g, m=masks[level]: g * m[..., None].to(g.dtype))
                      for level, p in params.items()]

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()
        with torch.no_grad():
            for level, p in (("low", self.ckb.low_level), ("high", self.ckb.high_level)):
                keep = ~self.masks[level]
                p[keep] = self.saved[level][keep]


__all__ = ["RowRouting", "route", "row_attribution", "select_rows"]
