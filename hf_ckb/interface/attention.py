"""The interface function of Eq. 5-9: two levels of attention over a CKB, batched over the K low-level matrices.

Reading taken (design §2, "per position"): the query at position t attends, at the low level, to the `n_l` rows
of `M^l_k` and the T input-derived rows `M~^l` (Eq. 7); at the high level to the `n_h` rows of `M^h`, the K
hidden states `h_1[t] .. h_K[t]` of its own position, and the T rows of `M~^h` (Eq. 8-9).

Cost: the T input rows are the same keys for all K low-level attentions, so their scores are computed once and
merged with each k's memory scores through a joint log-sum-exp (the two-block softmax of flash attention)
instead of concatenating `[M^l_k; M~^l]` K times. Memory keys are shared by every query, so they are one einsum
against `(K, n_l)` rather than a copy per position: O(N T K n_l d + N T^2 d) per interface call.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .reads import SlotReads


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    # (..., d) -> (..., H, d / H)
    return x.unflatten(-1, (num_heads, x.shape[-1] // num_heads))


def softmax(scores: torch.Tensor, lse: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last dim as `exp(scores - logsumexp)` (`lse`: the `keepdim` log-sum-exp, if already known).

    Not `torch.softmax`, for reproducibility: on CPU its backward kernel rounds differently when its rows are split
    over intra-op threads than when one thread runs them all (the two compiled copies of the kernel differ in
    fused multiply-adds; seen in PyTorch 2.13 for rows whose length is not a multiple of the SIMD width), so a
    seeded import gave other weights with 1 thread than with 2. This form's backward is elementwise ops and a row
    sum, which round the same whatever the thread count."""
    return torch.exp(scores - (scores.logsumexp(-1, keepdim=True) if lse is None else lse))


class LayerNorm(nn.LayerNorm):
    """`nn.LayerNorm` (same parameters and state-dict keys) whose weight and bias gradients do not depend on the
    number of intra-op threads: the fused CPU backward sums them over rows in per-thread partial sums, so they
    rounded differently with 1, 2 or 3 threads. Here only the normalisation is fused; the affine map is broadcasting
    ops, whose gradient sums run over each column whole."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.layer_norm(x, self.normalized_shape, eps=self.eps)
        return normed if self.weight is None else normed * self.weight + self.bias


def key_mask(mask: torch.Tensor | None, causal: bool, length: int, device) -> torch.Tensor | None:
    """Which input rows each query may read: `(N or 1, 1, T_query, T_key)` bool, or None for all."""
    allowed = None
    if mask is not None:
        allowed = mask.bool()[:, None, None, :]  # (N, 1, 1, T)
    if causal:
        tri = torch.ones(length, length, dtype=torch.bool, device=device).tril()[None, None]  # (1, 1, T, T)
        allowed = tri if allowed is None else allowed & tri
    return allowed


class CKBAttention(nn.Module):
    r"""
    One interface block: input projection (Eq. 6), K batched low-level attentions (Eq. 7), one high-level
    attention (Eq. 8-9), a residual connection and an optional feed-forward block, and an output projection.

    Args:
        in_features (`int`): width of an input row of the simulated function.
        out_features (`int`): width of an output row.
        hidden_size (`int`): `d`, the CKB width.
        num_heads (`int`): attention heads at both levels; must divide `d`.
        intermediate_size (`int`): width of the feed-forward block; 0 disables it.
        dropout (`float`): dropout on attention outputs and the feed-forward block.

    Eq. 7 and Eq. 8 write the same `W^q`, `W^k`, `W^v` for both levels; we share `W^q` (one query per input row,
    as in the paper) and give each level its own key/value projections, because the two levels attend over
    different kinds of rows (memory rows vs. hidden states). There is no input LayerNorm: it would erase the input
    magnitude that functions such as a ReLU convolution depend on (design §7).
    """

    def __init__(self, in_features: int, out_features: int, hidden_size: int, num_heads: int = 4,
                 intermediate_size: int = 0, dropout: float = 0.0):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"The CKB width ({hidden_size}) must be divisible by num_heads ({num_heads}).")
        self.num_heads = num_heads
        self.scale = 1.0 / math.sqrt(hidden_size // num_heads)
        d = hidden_size
        # x -> [residual stream, x W^q, M~^l = x W^l, M~^h = x W^h]
        self.in_proj = nn.Linear(in_features, 4 * d)
        self.low_kv = nn.Linear(d, 2 * d)  # [W^k; W^v] of the low level
        self.high_kv = nn.Linear(d, 2 * d)  # [W^k; W^v] of the high level
        self.attn_out = nn.Linear(d, d)
        self.ffn = None
        if intermediate_size:
            self.ffn = nn.Sequential(LayerNorm(d), nn.Linear(d, intermediate_size), nn.GELU(),
                                     nn.Linear(intermediate_size, d), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(d, out_features)

    def forward(self, x: torch.Tensor, low_level: torch.Tensor, high_level: torch.Tensor,
                mask: torch.Tensor | None = None, causal: bool = False,
                return_attention: bool = False, memory: dict | None = None, pack: bool = False,
                reads: SlotReads | None = None):
        """
        Args:
            x: `(N, T, in_features)` input rows.
            low_level: `(K, n_l, d)`, high_level: `(n_h, d)`: the CKB.
            mask: `(N, T)`, 1 for real rows, 0 for padding (padding rows are never keys).
            causal: row t reads input rows <= t only.
            return_attention: also return the high-level attention over `M^h` and each `h_k`, `(N, T, n_h + K)`.
            memory: `project_memory(low_level, high_level)`, when the caller reuses it across calls (a recurrence).
            pack: compute only the queries of real rows (`mask` 1); padded positions of the output are zeros.
                Real positions are unchanged: a padded row is never a key, so nothing reads its query's result.
            reads: a `SlotReads` to which this call's read weights are added (`hf_ckb.interface.reads`).

        Returns: `(N, T, out_features)` (and the attention if asked).
        """
        allowed = key_mask(mask, causal, x.shape[1], x.device)
        keep = mask.bool() if pack and mask is not None and not return_attention else None
        rows = InputRows(allowed, None if keep is None or bool(keep.all()) else keep)
        if rows.keep is None:
            residual, query, m_low, m_high = self.in_proj(x).chunk(4, dim=-1)  # (N, T, d)
            kv_low, kv_high = self.low_kv(m_low), self.high_kv(m_high)  # (N, T, 2d)
        else:  # R real rows, each a query of its own: (R, 1, d); keys stay (N, T, 2d), zeros (never read) at padding
            residual, query, m_low, m_high = self.in_proj(x[rows.keep])[:, None].chunk(4, dim=-1)
            kv_low, kv_high = rows.unpack(self.low_kv(m_low)[:, 0]), rows.unpack(self.high_kv(m_high)[:, 0])
        q = _split_heads(query, self.num_heads) * self.scale  # (N, T, H, e) or (R, 1, H, e)
        memory = memory or self.project_memory(low_level, high_level)
        trace = None if reads is None else {}
        hidden = self._low_level(q, kv_low, memory["low"], rows, trace)  # (N, T, K, d)
        out, probs = self._high_level(q, hidden, kv_high, memory["high"], rows, trace)
        if reads is not None:
            _add_reads(reads, trace)
        z = residual + self.dropout(self.attn_out(out))
        if self.ffn is not None:
            z = z + self.ffn(z)
        y = self.out_proj(z)
        if rows.keep is not None:
            y = rows.unpack(y[:, 0])  # (N, T, out)
        return (y, probs) if return_attention else y

    def project_memory(self, low_level: torch.Tensor, high_level: torch.Tensor) -> dict:
        """Keys and values of the CKB rows at both levels; they depend on the CKB only, not on the input."""
        H = self.num_heads
        return {"low": [_split_heads(t, H) for t in self.low_kv(low_level).chunk(2, -1)],  # (K, n_l, H, e)
                "high": [_split_heads(t, H) for t in self.high_kv(high_level).chunk(2, -1)]}  # (n_h, H, e)

    def _low_level(self, q, kv_inp, memory, rows, trace=None):
        """Eq. 7 for all k at once: softmax over `[M^l_k ; M~^l]` keys, merged from two score blocks."""
        H = self.num_heads
        mem_k, mem_v = memory  # (K, n_l, H, e)
        inp_k, inp_v = (_split_heads(t, H) for t in kv_inp.chunk(2, -1))  # (N, T, H, e)
        s_mem = torch.einsum("nthe,kmhe->nhtkm", q, mem_k)  # (N, H, T, K, n_l)
        s_inp = rows.scores(q, inp_k)  # (N, H, T, T)
        lse_mem = s_mem.logsumexp(-1)  # (N, H, T, K)
        lse_inp = s_inp.logsumexp(-1, keepdim=True)  # (N, H, T, 1)
        lse = torch.logaddexp(lse_mem, lse_inp)  # normaliser of the joint softmax over n_l + T keys
        p_mem = torch.exp(s_mem - lse[..., None])  # (N, H, T, K, n_l)
        a_mem = torch.einsum("nhtkm,kmhe->nhtke", p_mem, mem_v)
        if trace is not None:  # the low-level weights, and each h_k's share read from the CKB rather than M~
            trace.update(low=p_mem, low_ckb=1 - torch.exp(lse_inp - lse))
        a_inp = rows.mix(softmax(s_inp, lse_inp), inp_v).transpose(1, 2)  # (N, H, T, e), the same for every k
        hidden = a_mem + torch.exp(lse_inp - lse)[..., None] * a_inp[:, :, :, None]  # (N, H, T, K, e)
        return hidden.permute(0, 2, 3, 1, 4).flatten(-2)  # (N, T, K, d)

    def _high_level(self, q, hidden, kv_inp, memory, rows, trace=None):
        """Eq. 8-9: one softmax over `[M^h ; h_1[t] .. h_K[t] ; M~^h]`."""
        H = self.num_heads
        mem_k, mem_v = memory  # (n_h, H, e)
        inp_k, inp_v = (_split_heads(t, H) for t in kv_inp.chunk(2, -1))  # (N, T, H, e)
        # The K hidden states are keys of one query each, so projecting them (N T K d^2) would dominate. Instead
        # fold W^k into the query (q . h W^k = (q W^k^T) . h) and apply W^v after the weighted sum over k.
        w_k, w_v = (_split_heads(w.T, H) for w in self.high_kv.weight.chunk(2, 0))  # (d, H, e)
        b_k, b_v = (_split_heads(b, H) for b in self.high_kv.bias.chunk(2, 0))  # (H, e)
        q_hid = torch.einsum("nthe,dhe->nthd", q, w_k)  # (N, T, H, d)
        s_hid = torch.einsum("nthd,ntkd->nhtk", q_hid, hidden) + torch.einsum("nthe,he->nht", q, b_k)[..., None]
        s_inp = rows.scores(q, inp_k)  # (N, H, T, T)
        scores = torch.cat([torch.einsum("nthe,mhe->nhtm", q, mem_k), s_hid, s_inp], dim=-1)  # n_h + K + T keys
        probs = softmax(scores)
        n_h, K = mem_k.shape[0], hidden.shape[2]
        p_mem, p_hid, p_inp = probs.split([n_h, K, probs.shape[-1] - n_h - K], dim=-1)
        if trace is not None:
            trace.update(high=p_mem, hid=p_hid)
        mixed = torch.einsum("nhtk,ntkd->nthd", p_hid, hidden)  # (N, T, H, d): each head's mix of the h_k
        out = (torch.einsum("nhtm,mhe->nthe", p_mem, mem_v)
               + torch.einsum("nthd,dhe->nthe", mixed, w_v) + p_hid.sum(-1).transpose(1, 2)[..., None] * b_v
               + rows.mix(p_inp, inp_v))
        return out.flatten(-2), probs[..., : n_h + K].mean(1)  # (N, T, d), (N, T, n_h + K)


def _add_reads(reads: SlotReads, trace: dict) -> None:
    """A paper-design call's reads, head-averaged: an `h_k` counts as a CKB read in the share it took from `M^l_k`
    (the rest of it came from the input rows `M~^l`)."""
    ckb_share = trace["high"].sum(-1) + (trace["hid"] * trace["low_ckb"]).sum(-1)  # (N, H, T)
    reads.add(trace["low"].mean(1), trace["high"].mean(1), ckb_share.mean(1))


class InputRows:
    """How queries meet the input-derived key rows `M~` (T per example, `(N, T, ...)`): either every position is a
    query (`keep` None: queries `(N, T, ...)`), or only the R real positions of a padded batch are (`keep` the
    `(N, T)` bool mask: queries `(R, 1, ...)`, in `keep`'s row-major order)."""

    def __init__(self, allowed: torch.Tensor | None, keep: torch.Tensor | None = None):
        self.allowed, self.keep = allowed, keep

    def unpack(self, packed: torch.Tensor) -> torch.Tensor:
        """`(R, ...)` -> `(N, T, ...)`, zeros at padded positions."""
        return packed.new_zeros(*self.keep.shape, *packed.shape[1:]).index_put((self.keep,), packed)

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Masked scores of the queries against the input keys `k` `(N, T, H, e)`: `(N, H, T, T)` or `(R, H, 1, T)`."""
        full = q if self.keep is None else self.unpack(q[:, 0])  # (N, T, H, e)
        s = torch.einsum("nthe,nshe->nhts", full, k)
        if self.allowed is not None:
            s = s.masked_fill(~self.allowed, torch.finfo(s.dtype).min)
        return s if self.keep is None else s.transpose(1, 2)[self.keep][:, :, None]

    def mix(self, p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The input values `v` `(N, T, H, e)` weighted by `p` (as `scores` returns it): `(N, T, H, e)` or
        `(R, 1, H, e)`."""
        if self.keep is None:
            return torch.einsum("nhts,nshe->nthe", p, v)
        return torch.einsum("nths,nshe->nthe", self.unpack(p[:, :, 0]), v)[self.keep][:, None]


def reference_attention(block: CKBAttention, x, low_level, high_level, mask=None, causal=False):
    """The straightforward reading of Eq. 6-9, a Python loop over k with explicit key concatenation.

    Slow; kept as the ground truth that tests compare the batched `CKBAttention.forward` with.
    """
    H, N, T = block.num_heads, x.shape[0], x.shape[1]
    residual, query, m_low, m_high = block.in_proj(x).chunk(4, dim=-1)
    allowed = key_mask(mask, causal, T, x.device)
    allowed = torch.ones(N, 1, T, T, dtype=torch.bool) if allowed is None else allowed.expand(N, 1, T, T)
    q = _split_heads(query, H).transpose(1, 2)  # (N, H, T, e)
    hidden = []
    for k in range(low_level.shape[0]):
        rows = torch.cat([low_level[k].expand(N, -1, -1), m_low], dim=1)  # (N, n_l + T, d)
        key, value = (_split_heads(t, H).transpose(1, 2) for t in block.low_kv(rows).chunk(2, -1))
        keep = torch.cat([allowed.new_ones(N, 1, T, low_level.shape[1]), allowed], dim=-1)
        h = F.scaled_dot_product_attention(q, key, value, attn_mask=keep)  # (N, H, T, e)
        hidden.append(h.transpose(1, 2).flatten(-2))
    hidden = torch.stack(hidden, dim=2)  # (N, T, K, d)
    outs = []
    for t in range(T):  # per position: [M^h ; h_1[t] .. h_K[t] ; M~^h]
        rows = torch.cat([high_level.expand(N, -1, -1), hidden[:, t], m_high], dim=1)
        key, value = (_split_heads(r, H).transpose(1, 2) for r in block.high_kv(rows).chunk(2, -1))
        keep = torch.cat([allowed.new_ones(N, 1, 1, high_level.shape[0] + hidden.shape[2]),
                          allowed[:, :, t : t + 1]], dim=-1)
        outs.append(F.scaled_dot_product_attention(q[:, :, t : t + 1], key, value, attn_mask=keep))
    out = torch.cat(outs, dim=2).transpose(1, 2).flatten(-2)  # (N, T, d)
    z = residual + block.attn_out(out)
    if block.ffn is not None:
        z = z + block.ffn(z)
    return block.out_proj(z)
