"""Part of section 1: how the global (sequence) interface step grows with K and with T, with fitted exponents."""

from __future__ import annotations

import torch

from common import PAPER_CKB, fit_exponent, interleaved, log, make_ckb, median
from steps import train_step


def run(cfg, device):
    """`cfg` is the attention section's: its `Ks` and `repeats`, and `growth` (B, Ts, T_fixed)."""
    g = cfg["growth"]
    return {axis: along(axis, values, g, cfg["repeats"], device) for axis, values in (("K", cfg["Ks"]), ("T", g["Ts"]))}


def along(axis, values, g, repeats, device):
    """One step per value of `axis` (the other axis fixed), timed interleaved."""
    from hf_ckb.interface.attention import CKBAttention

    d = PAPER_CKB["hidden_size"]
    fns = {}
    for v in values:
        K, T = (v, g["T_fixed"]) if axis == "K" else (10, v)
        torch.manual_seed(0)
        ckb = make_ckb(device, num_low_level=K)
        block = CKBAttention(256, 256, d, 4, 4 * d).to(device)
        x = torch.randn(g["B"], T, 256, device=device)
        params = [*block.parameters(), *ckb.parameters()]
        fns[v] = train_step(lambda b=block, c=ckb, x=x: b(x, c.low_level, c.high_level).square().mean(), params)
    times = interleaved(fns, repeats, device=device)
    ms = [1e3 * median(times[v]) for v in values]
    out = {"values": list(values), "ms": ms, "ms_relative_to_first": [m / ms[0] for m in ms],
           "exponent": fit_exponent(values, ms),
           "fixed": {"B": g["B"], "T": g["T_fixed"]} if axis == "K" else {"B": g["B"], "K": 10}}
    log(f"growth in {axis}: {[round(m, 1) for m in ms]} ms, exponent {out['exponent']:.2f}")
    return out
