"""Section 3: the GRU-cell interface trained teacher-forced on all T steps in one call vs stepping through time (one
call per step with the host's h_(t-1)), forward + backward, at each batch size."""

from __future__ import annotations

import torch

from common import interleaved, log, make_ckb, make_network, median, ratio
from steps import train_step

FULL = dict(batches=(32, 8), T_rec=64, repeats=7, min_time=0.5)
QUICK = dict(batches=(4, 2), T_rec=16, repeats=2)


def run(cfg, device):
    """The first batch size's figures at the top level (the target reads them), every batch's under `by_batch`."""
    out = {f"B{B}": at_batch(B, cfg, device) for B in cfg["batches"]}
    return {**out[f"B{cfg['batches'][0]}"], "by_batch": out}


def at_batch(B, cfg, device):
    from hf_ckb import InterfaceConfig, InterfaceModel

    from baselines import stepping_recurrent

    T = cfg["T_rec"]
    vocab = 8000
    host = make_network("rnn", vocab).to(device)
    ckb = make_ckb(device)
    net = InterfaceModel(host, ckb, InterfaceConfig())
    wrapper = net.interface_layers()[0]
    ids = torch.randint(4, vocab, (B, T), generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        x = host.embeddings(ids)
        states = host.gru.base_layer(x)[0]  # (B, T, H)
    net.context.attention_mask = None
    params = [p for p in net.parameters() if p.requires_grad]
    with torch.no_grad():
        diff = (wrapper.parallel_forward((x,), {}, states) - stepping_recurrent(wrapper, x, states)).abs().max()
    fns = {"teacher_forced": train_step(lambda: (wrapper.parallel_forward((x,), {}, states) - states).square().mean(),
                                        params),
           "stepping": train_step(lambda: (stepping_recurrent(wrapper, x, states) - states).square().mean(), params)}
    times = interleaved(fns, cfg["repeats"], device=device, min_time=cfg.get("min_time", 0.0))
    out = {"batch": B, "T": T, "ms": {k: 1e3 * median(v) for k, v in times.items()},
           "stepping_over_teacher_forced": ratio(times, "stepping", "teacher_forced"),
           "max_abs_output_difference": float(diff)}
    log(f"recurrent B={B} T={T}: stepping / teacher-forced x{out['stepping_over_teacher_forced']['ratio']:.2f}")
    return out
