"""Straightforward implementations the fast paths are measured against (and tested against in
tests/test_perf_paths.py). Each differs from the package's code in one respect only."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hf_ckb.interface.attention import CKBAttention, InputRows, _split_heads, key_mask


def looped_low_level(block: CKBAttention, q, m_low, low_level, allowed, hoisted: bool = False):
    """Eq. 7 as a Python loop over k (the `reference_attention` style): for each k, the keys `[M^l_k ; M~^l]` are
    concatenated per example and attended with `scaled_dot_product_attention`. `hoisted=True` projects the memory and
    input rows once, outside the loop (a fairer loop: only the attention is per k). Returns `(N, T, K, d)`."""
    H = block.num_heads
    N, T = q.shape[:2]
    n_l = low_level.shape[1]
    qh = q.transpose(1, 2)  # (N, H, T, e), already scaled
    keep = None
    if allowed is not None:
        keep = torch.cat([allowed.new_ones(allowed.shape[0], 1, T, n_l), allowed.expand(-1, 1, T, T)], dim=-1)
    if hoisted:
        mem_k, mem_v = (_split_heads(t, H).transpose(1, 2) for t in block.low_kv(low_level).chunk(2, -1))
        inp_k, inp_v = (_split_heads(t, H).transpose(1, 2) for t in block.low_kv(m_low).chunk(2, -1))
    hidden = []
    for k in range(low_level.shape[0]):
        if hoisted:  # (N, H, n_l + T, e)
            key = torch.cat([mem_k[k].expand(N, -1, -1, -1), inp_k], dim=2)
            value = torch.cat([mem_v[k].expand(N, -1, -1, -1), inp_v], dim=2)
        else:
            rows = torch.cat([low_level[k].expand(N, -1, -1), m_low], dim=1)  # (N, n_l + T, d)
            key, value = (_split_heads(t, H).transpose(1, 2) for t in block.low_kv(rows).chunk(2, -1))
        h = F.scaled_dot_product_attention(qh, key, value, attn_mask=keep, scale=1.0)  # (N, H, T, e)
        hidden.append(h.transpose(1, 2).flatten(-2))
    return torch.stack(hidden, dim=2)  # (N, T, K, d)


def looped_forward(block: CKBAttention, x, low_level, high_level, mask=None, causal=False, hoisted=False):
    """`CKBAttention.forward` with its batched low level replaced by `looped_low_level`; all else identical."""
    residual, query, m_low, m_high = block.in_proj(x).chunk(4, dim=-1)
    allowed = key_mask(mask, causal, x.shape[1], x.device)
    q = _split_heads(query, block.num_heads) * block.scale
    hidden = looped_low_level(block, q, m_low, low_level, allowed, hoisted)
    high_memory = block.project_memory(low_level, high_level)["high"]
    out, _ = block._high_level(q, hidden, block.high_kv(m_high), high_memory, InputRows(allowed))
    z = residual + block.dropout(block.attn_out(out))
    if block.ffn is not None:
        z = z + block.ffn(z)
    return block.out_proj(z)


def stepping_recurrent(wrapper, x, states):
    """A recurrent interface trained by stepping through time: at each t the block is called on
    `[x_t ; h_{t-1}]` with the host's own `h_{t-1}` (teacher forcing), one call per step. `(B, T, H)`."""
    h_prev = F.pad(states[:, :-1], (0, 0, 1, 0))  # h_{t-1}, h_0 = 0
    outs = [wrapper.block_forward(torch.cat([x[:, t], h_prev[:, t]], dim=-1)[:, None])[:, 0]
            for t in range(x.shape[1])]
    return torch.stack(outs, dim=1)


def unpacked_rows_forward(wrapper, rows):
    """A local interface on every row, padded ones included (what `rows_forward` did before packing)."""
    B, T = rows.shape[:2]
    return wrapper.block_forward(rows.flatten(0, 1)[:, None]).view(B, T, -1)


def unpacked_sequence_forward(wrapper, args, kwargs):
    """A sequence interface computing every query, padded ones included (what import did before `pack=True`)."""
    x = wrapper.function_input(args, kwargs)
    return wrapper.block_forward(x, wrapper.positions_mask(x), wrapper.context.causal)
