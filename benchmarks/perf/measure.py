"""What a step costs besides its time: FLOPs, the ops its time goes to, and its peak tensor memory."""

from __future__ import annotations

import torch


def flops_of(fn) -> float:
    """FLOPs of one call of `fn` (`torch.utils.flop_counter`)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def top_ops(fn, n=8):
    """The `n` ops with the most self CPU time over three calls of `fn` (after one warm-up call): share and calls."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            fn()
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:n]
    return [{"op": e.key, "self_cpu_share": e.self_cpu_time_total / total, "calls_per_step": e.count / 3} for e in rows]


def peak_tensor_bytes(fn, device) -> int:
    """Peak of live tensor bytes allocated while `fn` runs, above what was live before (CPU: from the profiler's
    allocation and free events; CUDA: max_memory_allocated)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    items = []
    for e in prof.events():
        if e.name == "[memory]":
            items.append((e.time_range.start, e.cpu_memory_usage))
        elif e.self_cpu_memory_usage:
            items.append((e.time_range.start, e.self_cpu_memory_usage))
    current = peak = 0
    for _, nbytes in sorted(items):
        current += nbytes
        peak = max(peak, current)
    return peak
