"""Section 1: one interface step (forward + backward) with the batched low level vs a Python loop over k, at
several K, for rows as the RNN and the ANN interfaces see them; then the growth of the global step (growth.py)."""

from __future__ import annotations

import torch

from common import PAPER_CKB, interleaved, log, make_ckb, median, ratio
from sections import growth
from steps import train_step

FULL = dict(B=32, T=32, Ks=(5, 10, 20, 40), repeats=5, growth=dict(B=16, Ts=(32, 64, 128, 256), T_fixed=64))
QUICK = dict(B=4, T=8, Ks=(5, 10, 20), repeats=2, growth=dict(B=2, Ts=(8, 16, 32), T_fixed=8))


def run(cfg, device):
    d, n_l, n_h = PAPER_CKB["hidden_size"], PAPER_CKB["low_level_size"], PAPER_CKB["high_level_size"]
    rows = {  # rows as the interfaces see them
        "rnn": dict(N=cfg["B"] * cfg["T"], T=1, inp=512, inter=0),  # GRU cell: [x_t ; h_{t-1}], one query per row
        "ann": dict(N=cfg["B"], T=cfg["T"], inp=256, inter=4 * d),  # the encoder stack: B sequences of T rows
    }
    out = {"d": d, "n_l": n_l, "n_h": n_h, "heads": 4, "batch": cfg["B"], "tokens_per_example": cfg["T"],
           "rows": rows, "loop_vs_batched": {}}
    for name, r in rows.items():
        for K in cfg["Ks"]:
            out["loop_vs_batched"][f"{name}_K{K}"] = loop_vs_batched(name, r, K, d, cfg["repeats"], device)
    out["growth"] = growth.run(cfg, device)
    return out


def loop_vs_batched(name, r, K, d, repeats, device):
    """The batched step against the loop over k (and the hoisted loop; at ANN K=10 the naive reading too)."""
    from hf_ckb.interface.attention import CKBAttention, reference_attention

    from baselines import looped_forward

    torch.manual_seed(0)
    ckb = make_ckb(device, num_low_level=K)
    block = CKBAttention(r["inp"], 256, d, 4, r["inter"]).to(device)
    x = torch.randn(r["N"], r["T"], r["inp"], device=device)
    params = [*block.parameters(), *ckb.parameters()]
    low, high = ckb.low_level, ckb.high_level
    fns = {"batched": train_step(lambda: block(x, low, high).square().mean(), params),
           "loop": train_step(lambda: looped_forward(block, x, low, high).square().mean(), params),
           "loop_hoisted": train_step(lambda: looped_forward(block, x, low, high, hoisted=True)
                                      .square().mean(), params)}
    if name == "ann" and K == 10:  # the naive reading: loops over k and over t, keys concatenated
        fns["naive_reference"] = train_step(lambda: reference_attention(block, x, low, high).square().mean(), params)
    times = interleaved(fns, repeats, device=device)
    entry = {"ms": {k: 1e3 * median(v) for k, v in times.items()},
             "loop_over_batched": ratio(times, "loop", "batched"),
             "hoisted_loop_over_batched": ratio(times, "loop_hoisted", "batched")}
    if "naive_reference" in times:
        entry["naive_over_batched"] = ratio(times, "naive_reference", "batched")
    log(f"attention {name} K={K}: batched {entry['ms']['batched']:.1f} ms, loop x"
        f"{entry['loop_over_batched']['ratio']:.2f}, hoisted loop x{entry['hoisted_loop_over_batched']['ratio']:.2f}")
    return entry
