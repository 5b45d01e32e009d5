"""The `sparse` interface design: a store much larger than its width, read a few slots at a time through product keys.

Why: in the `memory` design the CKB has about as many rows as its width (n = 320, d = 256 for the paper's small
CKB), so a random CKB is a near-invertible mixing of what the query selects, and at `ci` scale the CNN scored as well
on a random CKB as on its own (benchmarks/knowledge). A store of many more slots than dimensions, of which each query
reads only k, is a bottleneck an interface cannot re-express: k random rows summed into d dimensions lose what
selected them. That is the product-key memory (Lample et al. 2019, "Large Memory Layers with Product Keys").

Slots and keys come from the CKB alone, with no per-interface projection:
- the values are the K * n_l low-level rows, slot `s = i * n_h + j` for `i, j < n_h` (so K * n_l must be n_h^2);
- the key of slot (i, j) is the product key `[M^h_i[:d/2] ; M^h_j[d/2:]]`: the first and second halves of the
  high-level rows are the two sub-key codebooks (halves normalised, so scores do not depend on the CKB's scale).

Each head's query `[q1 ; q2]` (halves normalised) scores the n_h first and the n_h second sub-keys, keeps the top k of
each, scores the k^2 candidate pairs `s1_i + s2_j`, keeps the top k of those and reads their softmax-weighted values;
the heads' reads are summed, then `out_proj(LayerNorm(read))` (+ the state carry of a recurrent cell). Per query:
O(n_h d + k^2 + k d) whatever the number of slots (never a score against every slot). A zeroed CKB reads zeros, so the
output is one constant for every input, as in the `memory` design.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .attention import LayerNorm, softmax
from .memory import MemoryAttention, check_read_only_options


def check_store(num_low_level: int, low_level_size: int, high_level_size: int, hidden_size: int) -> None:
    """A CKB the `sparse` design can read: K * n_l slots = n_h^2 product keys, and an even width."""
    slots = num_low_level * low_level_size
    if slots != high_level_size**2 or hidden_size % 2:
        raise ValueError(
            f"The 'sparse' interface design reads K * n_l = {slots} slots through n_h^2 = {high_level_size**2} "
            f"product keys, and splits the width d = {hidden_size} in halves: it needs K * n_l = n_h^2 and an even d, "
            "e.g. CKBConfig(num_low_level=16, low_level_size=256, high_level_size=64, hidden_size=64).")


class ProductKeyAttention(MemoryAttention):
    r"""
    One `sparse`-design interface block, called as `CKBAttention` is.

    Args:
        in_features (`int`): width of an input row of the simulated function.
        out_features (`int`): width of an output row.
        hidden_size (`int`): `d`, the CKB width (even).
        num_heads (`int`): heads, each with its own query of width `d` and its own top-k read.
        intermediate_size (`int`): must be 0 (no feed-forward block).
        dropout (`float`): dropout on what is read.
        carry (`int`): a recurrent cell's state width, see `MemoryAttention`.
        top_k (`int`): slots read per head (and sub-keys kept per half).
    """

    def __init__(self, in_features: int, out_features: int, hidden_size: int, num_heads: int = 4,
                 intermediate_size: int = 0, dropout: float = 0.0, carry: int = 0, top_k: int = 8):
        nn.Module.__init__(self)  # not MemoryAttention's: the query is one full-width row per head
        check_read_only_options("sparse", out_features, intermediate_size, carry)
        if hidden_size % 2 or top_k < 1:
            raise ValueError(f"The 'sparse' design needs an even CKB width and top_k >= 1, got d={hidden_size}, "
                             f"top_k={top_k}.")
        self.num_heads, self.top_k = num_heads, top_k
        self.key_scale = (hidden_size // 2) ** 0.5
        self.query = nn.Linear(in_features, num_heads * hidden_size)
        self.norm = LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden_size, out_features)
        self.carry = nn.Parameter(torch.zeros(carry)) if carry else None

    def project_memory(self, low_level: torch.Tensor, high_level: torch.Tensor) -> dict:
        """The two sub-key codebooks (normalised halves of the high-level rows) and the slots (low-level rows)."""
        check_store(*low_level.shape[:2], *high_level.shape)
        half = high_level.shape[-1] // 2
        keys = [F.normalize(part, dim=-1) * self.key_scale for part in (high_level[:, :half], high_level[:, half:])]
        return {"keys": keys, "values": low_level.flatten(0, 1), "low_level_size": low_level.shape[1]}

    def _read(self, x, low_level, high_level, memory, reads=None):
        memory = memory or self.project_memory(low_level, high_level)
        (keys1, keys2), values = memory["keys"], memory["values"]
        n_h, d = keys1.shape[0], values.shape[-1]
        k = min(self.top_k, n_h)
        q = self.query(x).unflatten(-1, (self.num_heads, d))  # (N, T, H, d)
        s1, i1 = (F.normalize(q[..., : d // 2], dim=-1) @ keys1.T).topk(k, dim=-1)  # (N, T, H, k)
        s2, i2 = (F.normalize(q[..., d // 2:], dim=-1) @ keys2.T).topk(k, dim=-1)
        best, pair = (s1[..., :, None] + s2[..., None, :]).flatten(-2).topk(k, dim=-1)  # of the k^2 pairs
        slots = i1.gather(-1, pair // k) * n_h + i2.gather(-1, pair % k)  # (N, T, H, k)
        weights = softmax(best)
        read = torch.einsum("nthk,nthkd->ntd", weights, values[slots])  # heads summed
        first = i1.gather(-1, pair // k)
        if reads is not None:
            self._add_reads(reads, weights, first, slots, n_h, memory)
        return self._output(read, x), self._slot_use(weights, first, slots, n_h, memory)

    def _add_reads(self, reads, weights, first, slots, n_h, memory):
        """The weight on each slot (a low-level row) and on each first sub-key (a high-level row), head-averaged."""
        w = weights.flatten(-2) / self.num_heads  # (N, T, H k)
        low = w.new_zeros(*w.shape[:-1], memory["values"].shape[0]).scatter_add_(-1, slots.flatten(-2), w)
        high = w.new_zeros(*w.shape[:-1], n_h).scatter_add_(-1, first.flatten(-2), w)
        reads.add(low.unflatten(-1, (-1, memory["low_level_size"])), high, w.new_ones(w.shape[:-1]))

    def _slot_use(self, weights, first, slots, n_h, memory):
        """What was read, head-averaged, in the shape the other designs report `(N, T, n_h + K)`: the weight read
        through each first sub-key (row i of `M^h`), then the weight read from each low-level matrix `M^l_k`."""
        num_low = memory["values"].shape[0] // memory["low_level_size"]
        w = weights.flatten(-2) / self.num_heads  # (N, T, H k)
        by_key = w.new_zeros(*w.shape[:-1], n_h).scatter_add_(-1, first.flatten(-2), w)
        by_matrix = w.new_zeros(*w.shape[:-1], num_low).scatter_add_(
            -1, slots.flatten(-2) // memory["low_level_size"], w)
        return torch.cat([by_key, by_matrix], dim=-1)
