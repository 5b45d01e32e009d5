"""Section 4, the cost floor: on one batch of real snippets, the import step of each paper-size network against the
teacher's forward and a plain fine-tuning step; the same import step served from the teacher cache, computing padded
positions too (before packing) and with `torch.compile`d interface blocks; FLOPs and the import step's profile."""

from __future__ import annotations

import time

import torch

from common import interleaved, log, make_network, median, ratio, real_batch, word_tokenizer
from measure import flops_of, top_ops
from steps import build_import, function_call, import_step, teacher_steps

FULL = dict(B=32, max_length=64, kinds=("rnn", "cnn", "ann"), repeats=11, min_time=0.3, compile=True)
QUICK = dict(B=8, max_length=16, kinds=("rnn", "cnn", "ann"), repeats=2)


def run(cfg, device):
    tok = word_tokenizer()
    batch = real_batch(tok, cfg["B"], cfg["max_length"], device=device)
    labels = torch.randint(0, 2, (cfg["B"],), generator=torch.Generator().manual_seed(0)).to(device)
    out = {"batch": cfg["B"], "padded_length": batch["input_ids"].shape[1],
           "real_token_fraction": float(batch["attention_mask"].float().mean()), "networks": {}}
    for kind in cfg["kinds"]:
        entry = out["networks"][kind] = network_floor(kind, len(tok), batch, labels, cfg, device)
        log(f"floor {kind}: import {entry['ms']['import_step']:.0f} ms = x{entry['import_over_train']['ratio']:.2f} a "
            f"training step, x{entry['import_over_teacher_forward']['ratio']:.2f} the teacher forward; cached x"
            f"{entry['cached_import_over_train']['ratio']:.2f}; FLOP ratio {entry['gflop']['import_over_train']:.2f}")
    return out


def network_floor(kind, vocab, batch, labels, cfg, device):
    """Every step of one network timed interleaved, their ratios, FLOPs and the import step's profile."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    module, opt = build_import(kind, vocab, device)
    cached, copt = build_import(kind, vocab, device, cache=True)
    plain = make_network(kind, vocab).to(device)
    teacher_forward, plain_step = teacher_steps(plain, inputs, labels)
    fns = {"plain_train_step": plain_step, "teacher_forward": teacher_forward,
           "import_step": import_step(module, opt, {kind: inputs}),
           "import_step_cached": import_step(cached, copt, {kind: batch})}
    fns["import_step_cached"]()  # fills the cache: later calls skip the host
    fns["import_step_unpacked"] = unpacked_import_step(kind, vocab, inputs, device)
    if cfg.get("compile"):
        fns["import_step_compiled"], compile_seconds = compiled_import_step(kind, vocab, inputs, device)
    times = interleaved(fns, cfg["repeats"], warmup=2, device=device, min_time=cfg.get("min_time", 0.0))
    entry = {"ms": {k: 1e3 * median(v) for k, v in times.items()},
             "import_over_train": ratio(times, "import_step", "plain_train_step"),
             "import_over_teacher_forward": ratio(times, "import_step", "teacher_forward"),
             "cached_import_over_train": ratio(times, "import_step_cached", "plain_train_step"),
             "train_over_teacher_forward": ratio(times, "plain_train_step", "teacher_forward")}
    if "import_step_compiled" in times:
        entry["compiled_over_eager_import"] = ratio(times, "import_step_compiled", "import_step")
        entry["compile_seconds"] = compile_seconds
    entry["unpacked_over_packed_import"] = ratio(times, "import_step_unpacked", "import_step")
    entry["gflop"] = gflops(module.networks[kind], plain, inputs, plain_step, fns["import_step"])
    entry["import_step_profile"] = top_ops(fns["import_step"])
    return entry


def unpacked_import_step(kind, vocab, inputs, device):
    """The import step computing padded positions too, as before packing."""
    from baselines import unpacked_rows_forward, unpacked_sequence_forward

    module, opt = build_import(kind, vocab, device)
    wrapper = module.networks[kind].interface_layers()[0]
    if kind in ("rnn", "cnn"):  # local interfaces: one query per row
        wrapper.rows_forward = lambda rows: unpacked_rows_forward(wrapper, rows)
    else:  # the sequence interface: every query
        wrapper.parallel_forward = lambda args, kwargs, out=None: unpacked_sequence_forward(wrapper, args, kwargs)
    return import_step(module, opt, {kind: inputs})


def compiled_import_step(kind, vocab, inputs, device):
    """The import step with torch.compile'd interface blocks, and the seconds its first call (the compile) took."""
    module, opt = build_import(kind, vocab, device)
    module.compile_interfaces()
    step = import_step(module, opt, {kind: inputs})
    start = time.perf_counter()
    step()
    return step, time.perf_counter() - start


def gflops(net, plain, inputs, plain_step, import_fn) -> dict:
    """GFLOP of the teacher's forward, a plain training step, an import step and the interface's forward alone."""
    wrapper = net.interface_layers()[0]
    call = function_call(net, inputs)  # captured once: the count below is the interface's alone

    def interface_only():
        with net.mode("import"):  # as in the import step (padded queries skipped)
            return wrapper.parallel_forward(*call)

    def counted_forward():  # train mode: nn.TransformerEncoderLayer's fused eval path hides its FLOPs
        with torch.no_grad():
            plain.train()(**inputs)

    out = {"teacher_forward": flops_of(counted_forward) / 1e9, "plain_train_step": flops_of(plain_step) / 1e9,
           "import_step": flops_of(import_fn) / 1e9,
           "interface_forward": flops_of(lambda: interface_only().sum()) / 1e9}
    out["import_over_train"] = out["import_step"] / out["plain_train_step"]
    return out
