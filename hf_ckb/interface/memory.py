"""The `memory` interface design: a block whose output can only come from what it reads in the CKB.

The paper's block (`CKBAttention`) projects the CKB rows through keys/values of its own (`low_kv`, `high_kv`) and has
a private path around the CKB (a residual of the input, attention over its own input rows `M~`, an optional
feed-forward block), so a trained interface can ignore, or re-express, any CKB (issue 10: zeroing an imported CKB
left the CNN's accuracy unchanged). This block removes both:

- keys and values are the CKB rows themselves, with no per-interface projection (as in product-key memories and
  VB-LoRA, where a site owns only its selection over a shared bank). A key is a row normalised per head (so scores
  do not depend on the CKB's scale); a value is the raw row;
- there is no residual, no attention over input rows and no feed-forward block. The interface owns only its query
  map (input -> query) and its output map (a LayerNorm of what was read, then a linear map).

Levels as in Eq. 7-9: the query reads each low-level matrix `M^l_k` (K reads, batched), then one high-level read
over `[M^h ; h_1 .. h_K]`. Each output row is therefore `out_proj(LayerNorm(r))` with `r` a per-head convex
combination of CKB rows: a zeroed CKB gives one constant output for every input.

Each row is its own query (nothing reads other positions), so `mask` and `causal` do not change real rows; the
design suits per-row functions (recurrent cells, windows). Cost: O(N T (K n_l + n_h + K) d) per call.

Recurrent cells get one more path, a *state carry*: `h_t = read(x_t, h_{t-1}) + c * h_{t-1}` with `c` a learned
vector (`carry`, the width of the state at the end of each input row). Without it a cell must copy its state through
the memory at every step, and the copy's error compounds over a sentence (the RNN's CKB-backed accuracy fell 5-9
points below its teacher in the `small` knockout screen). The carry adds no input dependence of its own: with the
CKB zeroed, `h_t = const + c * h_{t-1}` from `h_0 = 0` is the same for every input, so the knockout still collapses.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .attention import LayerNorm, _split_heads, softmax


def check_read_only_options(design: str, out_features: int, intermediate_size: int, carry: int) -> None:
    """What the designs whose output comes only from the CKB ('memory', 'sparse') refuse: a feed-forward block (a
    private path), and a state carry of another width than the output."""
    if intermediate_size:
        raise ValueError(f"The {design!r} interface design has no feed-forward block, got intermediate_size="
                         f"{intermediate_size}; set intermediate_size=0 (or leave it None).")
    if carry and carry != out_features:
        raise ValueError(f"The state carry must be as wide as the output ({out_features}), got carry={carry}.")


class MemoryAttention(nn.Module):
    r"""
    One `memory`-design interface block, called as `CKBAttention` is.

    Args:
        in_features (`int`): width of an input row of the simulated function.
        out_features (`int`): width of an output row.
        hidden_size (`int`): `d`, the CKB width.
        num_heads (`int`): heads at both levels; must divide `d`.
        intermediate_size (`int`): must be 0: this design has no feed-forward block (kept for the common signature).
        dropout (`float`): dropout on what is read.
        carry (`int`): for a recurrent cell, the width of its state `h_{t-1}` (the last `carry` features of each input
            row, which must equal `out_features`); the output adds `c * h_{t-1}`. 0: no carry.
    """

    def __init__(self, in_features: int, out_features: int, hidden_size: int, num_heads: int = 4,
                 intermediate_size: int = 0, dropout: float = 0.0, carry: int = 0):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"The CKB width ({hidden_size}) must be divisible by num_heads ({num_heads}).")
        check_read_only_options("memory", out_features, intermediate_size, carry)
        self.num_heads = num_heads
        self.key_scale = (hidden_size // num_heads) ** 0.5  # unit-norm keys times sqrt(e): scores ~ q's scale
        self.query = nn.Linear(in_features, hidden_size)
        self.norm = LayerNorm(hidden_size)  # its gradients do not depend on the thread count
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden_size, out_features)
        # starts at 0: the cell begins as a pure memory read and learns how much of its state to keep
        self.carry = nn.Parameter(torch.zeros(carry)) if carry else None

    def forward(self, x: torch.Tensor, low_level: torch.Tensor, high_level: torch.Tensor,
                mask: torch.Tensor | None = None, causal: bool = False,
                return_attention: bool = False, memory: dict | None = None, pack: bool = False,
                reads=None):
        """As `CKBAttention.forward`: `x` `(N, T, in)` -> `(N, T, out)` (and the high-level attention over
        `[M^h ; h_1 .. h_K]`, `(N, T, n_h + K)`, head-averaged, if asked). `mask` only matters with `pack`:
        padded positions of the output are then zeros (they are not computed)."""
        keep = mask.bool() if pack and mask is not None and not return_attention else None
        if keep is not None and not bool(keep.all()):
            y = self._read(x[keep][:, None], low_level, high_level, memory, reads)[0][:, 0]  # (R, out)
            return y.new_zeros(*keep.shape, y.shape[-1]).index_put((keep,), y)
        y, probs = self._read(x, low_level, high_level, memory, reads)
        return (y, probs) if return_attention else y

    def project_memory(self, low_level: torch.Tensor, high_level: torch.Tensor) -> dict:
        """Keys (rows normalised per head) and values (the rows) of both levels; no learned projection."""
        H = self.num_heads
        low, high = _split_heads(low_level, H), _split_heads(high_level, H)  # (K, n_l, H, e), (n_h, H, e)
        return {"low": (self._keys(low), low), "high": (self._keys(high), high)}

    def _keys(self, rows: torch.Tensor) -> torch.Tensor:
        return F.normalize(rows, dim=-1) * self.key_scale

    def _read(self, x, low_level, high_level, memory, reads=None):
        H = self.num_heads
        memory = memory or self.project_memory(low_level, high_level)
        (low_k, low_v), (high_k, high_v) = memory["low"], memory["high"]
        q = _split_heads(self.query(x), H)  # (N, T, H, e)
        p_low = softmax(torch.einsum("nthe,kmhe->nthkm", q, low_k))  # (N, T, H, K, n_l); see attention.softmax
        hidden = torch.einsum("nthkm,kmhe->nthke", p_low, low_v)  # (N, T, H, K, e): h_k, per head
        # q . normalise(h_k) * scale, without building the normalised (N, T, H, K, e) keys: the largest tensor here
        own = torch.einsum("nthe,nthke->nthk", q, hidden) * (self.key_scale / hidden.norm(dim=-1).clamp_min(1e-12))
        scores = torch.cat([torch.einsum("nthe,mhe->nthm", q, high_k), own], dim=-1)  # n_h + K keys
        probs = softmax(scores)  # (N, T, H, n_h + K)
        n_h = high_v.shape[0]
        if reads is not None:  # every read is of the CKB: its share is 1
            reads.add(p_low.mean(2), probs[..., :n_h].mean(2), probs.new_ones(probs.shape[:2]))
        read = (torch.einsum("nthm,mhe->nthe", probs[..., :n_h], high_v)
                + torch.einsum("nthk,nthke->nthe", probs[..., n_h:], hidden))
        return self._output(read.flatten(-2), x), probs.mean(2)

    def _output(self, read: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The block's output from what was read `(..., d)`: `out_proj(LayerNorm(read))`, plus the state carry."""
        y = self.out_proj(self.dropout(self.norm(read)))
        if self.carry is not None:
            y = y + self.carry * x[..., -self.carry.shape[0]:]
        return y
