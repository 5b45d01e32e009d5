"""Section: a large store read sparsely (issue 10). One interface step (forward + backward) of the `sparse` design
(`ProductKeyAttention`, top-k through product keys) as the store grows from 256 to 16,384 slots at fixed top-k,
against the `memory` design's dense read of the same rows (every query scores every slot); time and peak tensor
memory, with the growth exponent of each in the number of slots (target: flat for the sparse read)."""

from __future__ import annotations

import torch

from common import fit_exponent, interleaved, log, make_ckb, median, ratio
from measure import peak_tensor_bytes
from steps import train_step

FULL = dict(queries=2048, in_features=640, d=64, heads=4, top_k=8, n_h=(16, 32, 64, 128), repeats=7, min_time=0.3)
QUICK = dict(queries=64, in_features=32, d=16, heads=2, top_k=4, n_h=(4, 8), repeats=2)


def run(cfg, device):
    from hf_ckb.interface.memory import MemoryAttention
    from hf_ckb.interface.product_keys import ProductKeyAttention

    d, out = cfg["d"], {"queries": cfg["queries"], "d": cfg["d"], "top_k": cfg["top_k"], "sizes": {}}
    x = torch.randn(cfg["queries"], 1, cfg["in_features"], generator=torch.Generator().manual_seed(0)).to(device)
    for n_h in cfg["n_h"]:
        slots = n_h * n_h  # 16 low-level matrices of n_h^2 / 16 rows (n_h a multiple of 4)
        ckb = make_ckb(device, num_low_level=16, low_level_size=slots // 16, high_level_size=n_h, hidden_size=d)
        torch.manual_seed(0)
        blocks = {"sparse": ProductKeyAttention(cfg["in_features"], d, d, cfg["heads"], top_k=cfg["top_k"]),
                  "dense": MemoryAttention(cfg["in_features"], d, d, cfg["heads"])}
        fns = {}
        for name, block in blocks.items():
            block.to(device)
            params = [*block.parameters(), ckb.low_level, ckb.high_level]
            fns[name] = train_step(lambda b=block: b(x, ckb.low_level, ckb.high_level).square().mean(), params)
        times = interleaved(fns, cfg["repeats"], warmup=1, device=device, min_time=cfg.get("min_time", 0.0))
        out["sizes"][slots] = {"ms": {k: 1e3 * median(v) for k, v in times.items()},
                               "peak_MiB": {k: peak_tensor_bytes(f, device) / 2**20 for k, f in fns.items()},
                               "dense_over_sparse": ratio(times, "dense", "sparse")}
        log(f"sparse store {slots} slots: sparse {out['sizes'][slots]['ms']['sparse']:.1f} ms, dense "
            f"{out['sizes'][slots]['ms']['dense']:.1f} ms")
    slots = sorted(out["sizes"])
    for name in ("sparse", "dense"):
        out[f"{name}_time_exponent"] = fit_exponent(slots, [out["sizes"][s]["ms"][name] for s in slots])
        out[f"{name}_memory_exponent"] = fit_exponent(slots, [max(out["sizes"][s]["peak_MiB"][name], 1e-6)
                                                             for s in slots])
    return out
