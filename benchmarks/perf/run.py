"""Performance benchmark of import and export (issue #5). One command:

    python benchmarks/perf/run.py                # everything, ~15 min on 2 CPU cores; GPU part when CUDA is present
    python benchmarks/perf/run.py --quick        # tiny sizes, a smoke test of every section (~1 min)
    python benchmarks/perf/run.py --sections attention,floor --threads 2

Every figure is a ratio against a baseline measured in the same run, interleaved (A, B, A, B, ...; medians of the
per-round ratios), so load from other processes cancels out. Writes results.json and RESULTS.md next to this file
(text after the `<!-- notes -->` line of an existing RESULTS.md is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import (PAPER_CKB, fit_exponent, interleaved, make_ckb, make_network, median, ratio,  # noqa: E402
                    real_batch, rotten_tomatoes_texts, tokenized_dataset, word_tokenizer)

SECTIONS = ("attention", "recurrent", "floor", "memory", "cache", "ddp", "gpu")
TARGETS = {
    "batched_vs_loop_K20": ("loop / batched time at K=20 (RNN and ANN rows)", ">=", 3.0),
    "cached_epoch_minilm": ("cached / uncached import step, MiniLM (median over epochs 2-3)", "<=", 0.5),
    "teacher_forced_T64": ("stepping / teacher-forced time at T=64", ">=", 5.0),
    "import_vs_train_rnn": ("import step / plain training step, RNN", "<=", 1.5),
    "import_vs_train_cnn": ("import step / plain training step, CNN", "<=", 1.5),
    "import_vs_train_ann": ("import step / plain training step, ANN", "<=", 1.5),
    "ddp_equal": ("2-process CKB = 1-process CKB (max relative L2 diff of any tensor)", "<=", 1e-4),
}


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def zero_grads(params):
    for p in params:
        p.grad = None


def train_step(loss_fn, params):
    """A callable: forward + backward of `loss_fn()`, gradients dropped (no optimiser: kernels only)."""
    def step():
        loss_fn().backward()
        zero_grads(params)
    return step


# ================================================================================================ 1. attention
def section_attention(cfg, device):
    from hf_ckb.interface.attention import CKBAttention, reference_attention

    from baselines import looped_forward

    d, n_l, n_h = PAPER_CKB["hidden_size"], PAPER_CKB["low_level_size"], PAPER_CKB["high_level_size"]
    rows = {  # rows as the interfaces see them
        "rnn": dict(N=cfg["B"] * cfg["T"], T=1, inp=512, inter=0),  # GRU cell: [x_t ; h_{t-1}], one query per row
        "ann": dict(N=cfg["B"], T=cfg["T"], inp=256, inter=4 * d),  # the encoder stack: B sequences of T rows
    }
    out = {"d": d, "n_l": n_l, "n_h": n_h, "heads": 4, "batch": cfg["B"], "tokens_per_example": cfg["T"],
           "rows": rows, "loop_vs_batched": {}}
    for name, r in rows.items():
        for K in cfg["Ks"]:
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
                fns["naive_reference"] = train_step(lambda: reference_attention(block, x, low, high).square().mean(),
                                                    params)
            times = interleaved(fns, cfg["repeats"], device=device)
            entry = {"ms": {k: 1e3 * median(v) for k, v in times.items()},
                     "loop_over_batched": ratio(times, "loop", "batched"),
                     "hoisted_loop_over_batched": ratio(times, "loop_hoisted", "batched")}
            if "naive_reference" in times:
                entry["naive_over_batched"] = ratio(times, "naive_reference", "batched")
            out["loop_vs_batched"][f"{name}_K{K}"] = entry
            log(f"attention {name} K={K}: batched {entry['ms']['batched']:.1f} ms, loop x"
                f"{entry['loop_over_batched']['ratio']:.2f}, hoisted loop x{entry['hoisted_loop_over_batched']['ratio']:.2f}")

    # growth of the global (sequence) interface step with K and with T
    g = cfg["growth"]
    growth = {}
    for axis, values in (("K", cfg["Ks"]), ("T", g["Ts"])):
        fns, blocks = {}, []
        for v in values:
            K, T = (v, g["T_fixed"]) if axis == "K" else (10, v)
            torch.manual_seed(0)
            ckb = make_ckb(device, num_low_level=K)
            block = CKBAttention(256, 256, d, 4, 4 * d).to(device)
            x = torch.randn(g["B"], T, 256, device=device)
            blocks.append((block, ckb, x))
            params = [*block.parameters(), *ckb.parameters()]
            fns[v] = train_step(lambda b=block, c=ckb, x=x: b(x, c.low_level, c.high_level).square().mean(), params)
        times = interleaved(fns, cfg["repeats"], device=device)
        ms = {v: 1e3 * median(times[v]) for v in values}
        growth[axis] = {"values": list(values), "ms": [ms[v] for v in values],
                        "ms_relative_to_first": [ms[v] / ms[values[0]] for v in values],
                        "exponent": fit_exponent(values, [ms[v] for v in values]),
                        "fixed": {"B": g["B"], "T": g["T_fixed"]} if axis == "K" else {"B": g["B"], "K": 10}}
        log(f"growth in {axis}: {[round(growth[axis]['ms'][i], 1) for i in range(len(values))]} ms, exponent "
            f"{growth[axis]['exponent']:.2f}")
    out["growth"] = growth
    return out


# ================================================================================================ 3. recurrent
def section_recurrent(cfg, device):
    out = {}
    for B in cfg["batches"]:
        out[f"B{B}"] = _recurrent(B, cfg, device)
    main = out[f"B{cfg['batches'][0]}"]
    return {**main, "by_batch": out}


def _recurrent(B, cfg, device):
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


# ================================================================================================ 4. cost floor
def build_import(kind, vocab, device, cache=False, seed=0):
    from hf_ckb import InterfaceConfig, InterfaceModel
    from hf_ckb.training import CKBTrainingModule
    from hf_ckb.training.trainer import PAPER_OPTIMIZER

    host = make_network(kind, vocab, seed).to(device)
    ckb = make_ckb(device, seed=seed)
    module = CKBTrainingModule(ckb, {kind: InterfaceModel(host, ckb, InterfaceConfig())})
    module.train()
    if cache:
        module.enable_teacher_cache(2**30, torch.float32)
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4,
                            betas=(PAPER_OPTIMIZER["adam_beta1"], PAPER_OPTIMIZER["adam_beta2"]),
                            eps=PAPER_OPTIMIZER["adam_epsilon"], weight_decay=PAPER_OPTIMIZER["weight_decay"])
    return module, opt


def import_step(module, opt, batches):
    def step():
        module(**batches)["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def flops_of(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def top_ops(fn, n=8):
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            fn()
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:n]
    return [{"op": e.key, "self_cpu_share": e.self_cpu_time_total / total, "calls_per_step": e.count / 3} for e in rows]


def section_floor(cfg, device):
    from baselines import unpacked_rows_forward, unpacked_sequence_forward

    tok = word_tokenizer()
    batch = real_batch(tok, cfg["B"], cfg["max_length"], device=device)
    plain_inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    labels = torch.randint(0, 2, (cfg["B"],), generator=torch.Generator().manual_seed(0)).to(device)
    out = {"batch": cfg["B"], "padded_length": batch["input_ids"].shape[1],
           "real_token_fraction": float(batch["attention_mask"].float().mean()), "networks": {}}
    for kind in cfg["kinds"]:
        module, opt = build_import(kind, len(tok), device)
        cached, copt = build_import(kind, len(tok), device, cache=True)
        plain = make_network(kind, len(tok)).to(device)
        popt = torch.optim.AdamW(plain.parameters(), lr=1e-4)

        def teacher_forward(plain=plain):
            plain.eval()
            with torch.no_grad():
                plain(**plain_inputs)

        def plain_step(plain=plain, popt=popt):
            plain.train()
            plain(**plain_inputs, labels=labels).loss.backward()
            popt.step()
            popt.zero_grad(set_to_none=True)

        fns = {"plain_train_step": plain_step, "teacher_forward": teacher_forward,
               "import_step": import_step(module, opt, {kind: plain_inputs}),
               "import_step_cached": import_step(cached, copt, {kind: batch})}
        fns["import_step_cached"]()  # fills the cache: later calls skip the host
        wrapper = module.networks[kind].interface_layers()[0]
        # the same step computing padded positions too (before packing)
        unpacked, uopt = build_import(kind, len(tok), device)
        uw = unpacked.networks[kind].interface_layers()[0]
        if kind in ("rnn", "cnn"):  # local interfaces: one query per row
            uw.rows_forward = lambda rows, uw=uw: unpacked_rows_forward(uw, rows)
        else:  # the sequence interface: every query
            uw.parallel_forward = lambda args, kwargs, out=None, uw=uw: unpacked_sequence_forward(uw, args, kwargs)
        fns["import_step_unpacked"] = import_step(unpacked, uopt, {kind: plain_inputs})
        if cfg.get("compile"):  # the same step with torch.compile'd interface blocks (compiled in the warm-up)
            compiled, kopt = build_import(kind, len(tok), device)
            compiled.compile_interfaces()
            fns["import_step_compiled"] = import_step(compiled, kopt, {kind: plain_inputs})
            start = time.perf_counter()
            fns["import_step_compiled"]()
            compile_seconds = time.perf_counter() - start
        times = interleaved(fns, cfg["repeats"], warmup=2, device=device, min_time=cfg.get("min_time", 0.0))
        entry = {"ms": {k: 1e3 * median(v) for k, v in times.items()},
                 "import_over_train": ratio(times, "import_step", "plain_train_step"),
                 "import_over_teacher_forward": ratio(times, "import_step", "teacher_forward"),
                 "cached_import_over_train": ratio(times, "import_step_cached", "plain_train_step"),
                 "train_over_teacher_forward": ratio(times, "plain_train_step", "teacher_forward")}
        if "import_step_compiled" in times:
            entry["compiled_over_eager_import"] = ratio(times, "import_step_compiled", "import_step")
            entry["compile_seconds"] = compile_seconds
        if "import_step_unpacked" in times:
            entry["unpacked_over_packed_import"] = ratio(times, "import_step_unpacked", "import_step")
        # where the time goes: FLOPs of each step and the profile of the import step
        call = _function_call(module, kind, plain_inputs)  # captured once: the count below is the interface's alone

        def interface_only(net=module.networks[kind]):
            with net.mode("import"):  # as in the import step (padded queries skipped)
                return wrapper.parallel_forward(*call)

        def counted_forward(plain=plain):  # train mode: nn.TransformerEncoderLayer's fused eval path hides its FLOPs
            with torch.no_grad():
                plain.train()(**plain_inputs)

        entry["gflop"] = {"teacher_forward": flops_of(counted_forward) / 1e9,
                          "plain_train_step": flops_of(plain_step) / 1e9,
                          "import_step": flops_of(fns["import_step"]) / 1e9,
                          "interface_forward": flops_of(lambda: interface_only().sum()) / 1e9}
        entry["gflop"]["import_over_train"] = entry["gflop"]["import_step"] / entry["gflop"]["plain_train_step"]
        entry["import_step_profile"] = top_ops(fns["import_step"])
        out["networks"][kind] = entry
        log(f"floor {kind}: import {entry['ms']['import_step']:.0f} ms = x{entry['import_over_train']['ratio']:.2f} a "
            f"training step, x{entry['import_over_teacher_forward']['ratio']:.2f} the teacher forward; cached x"
            f"{entry['cached_import_over_train']['ratio']:.2f}; FLOP ratio {entry['gflop']['import_over_train']:.2f}")
    return out


def _function_call(module, kind, inputs):
    """`(args, kwargs, out)` of the imitated function for `inputs`, captured from one host forward."""
    net = module.networks[kind]
    wrapper = net.interface_layers()[0]
    seen = {}
    handle = wrapper.base_layer.register_forward_hook(
        lambda m, a, k, o: seen.update(call=(a, k, o)), with_kwargs=True)
    with torch.no_grad(), net.mode("host"):
        net(**inputs)
    handle.remove()
    return seen["call"]


# ================================================================================================ 5. memory
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


def section_memory(cfg, device):
    tok = word_tokenizer()
    batch = real_batch(tok, cfg["B"], cfg["max_length"], device=device)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    labels = torch.zeros(cfg["B"], dtype=torch.long, device=device)
    out = {"method": "CUDA max_memory_allocated" if torch.device(device).type == "cuda" else
           "torch.profiler allocation/free events (tensor memory, not RSS)", "networks": {}}
    for kind in cfg["kinds"]:
        module, opt = build_import(kind, len(tok), device)
        plain = make_network(kind, len(tok)).to(device)
        popt = torch.optim.AdamW(plain.parameters(), lr=1e-4)
        step = import_step(module, opt, {kind: inputs})
        step()  # optimiser state exists before measuring, as in a real step

        def forward():
            with torch.no_grad():
                plain.eval()(**inputs)

        def train():
            plain.train()(**inputs, labels=labels).loss.backward()
            popt.step()
            popt.zero_grad(set_to_none=True)

        train()
        mib = {"teacher_forward": peak_tensor_bytes(forward, device) / 2**20,
               "plain_train_step": peak_tensor_bytes(train, device) / 2**20,
               "import_step": peak_tensor_bytes(step, device) / 2**20}
        out["networks"][kind] = {"peak_MiB": mib, "import_over_teacher_forward": mib["import_step"] /
                                 mib["teacher_forward"], "import_over_train": mib["import_step"] /
                                 mib["plain_train_step"]}
        log(f"memory {kind}: {mib}")
    return out


# ================================================================================================ 2. teacher cache
def minilm_host(device):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_ckb.data import minilm_path

    path = minilm_path()
    torch.manual_seed(0)
    host = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval().to(device)
    return host, AutoTokenizer.from_pretrained(path)


def cache_experiment(name, make_host, tokenizer, cfg, device, with_exact: bool):
    """Import with a bf16 teacher cache, without a cache (and with a float32 cache), same seed and data order,
    stepped in turn (A, B, A, B, ...): per-epoch times and final fidelity."""
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding

    from hf_ckb import InterfaceConfig, InterfaceModel
    from hf_ckb.training import CKBTrainingModule, JointCollator, JointDataset, evaluate_network
    from hf_ckb.training.trainer import PAPER_OPTIMIZER

    texts, val_texts = rotten_tomatoes_texts()[: cfg["n"]], rotten_tomatoes_texts("validation")[: cfg["n_val"]]
    train = tokenized_dataset(tokenizer, texts, cfg["max_length"])
    val = tokenized_dataset(tokenizer, val_texts, cfg["max_length"])
    collator = DataCollatorWithPadding(tokenizer)
    variants = {"bf16_cache": torch.bfloat16, "no_cache": None}
    if with_exact:
        variants["fp32_cache"] = torch.float32
    runs = {}
    for variant, dtype in variants.items():
        host = make_host()
        ckb = make_ckb(device, seed=0)
        torch.manual_seed(1)
        module = CKBTrainingModule(ckb, {name: InterfaceModel(host, ckb, InterfaceConfig())})
        module.train()
        if dtype is not None:
            module.enable_teacher_cache(2**31, dtype)
        opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=cfg["lr"],
                                betas=(PAPER_OPTIMIZER["adam_beta1"], PAPER_OPTIMIZER["adam_beta2"]),
                                eps=PAPER_OPTIMIZER["adam_epsilon"], weight_decay=PAPER_OPTIMIZER["weight_decay"])
        loader = DataLoader(JointDataset({name: train}), batch_size=cfg["batch"], shuffle=True,
                            generator=torch.Generator().manual_seed(0), collate_fn=JointCollator({name: collator}))
        runs[variant] = {"module": module, "opt": opt, "loader": loader, "epoch_s": []}
    for epoch in range(cfg["epochs"]):
        spent = {v: [] for v in runs}
        for batches in zip(*(r["loader"] for r in runs.values())):
            for (variant, run), b in zip(runs.items(), batches):
                b = {k: {c: t.to(device) for c, t in v.items()} for k, v in b.items()}
                start = time.perf_counter()
                import_step(run["module"], run["opt"], b)()
                if torch.device(device).type == "cuda":
                    torch.cuda.synchronize()
                spent[variant].append(time.perf_counter() - start)
        for variant in runs:
            runs[variant]["epoch_s"].append(sum(spent[variant]))
            runs[variant].setdefault("steps", []).append(spent[variant])
        spent = {v: sum(s) for v, s in spent.items()}
        log(f"cache {name} epoch {epoch + 1}: " + ", ".join(f"{v} {s:.1f} s" for v, s in spent.items()))
    out = {"examples": cfg["n"], "max_length": cfg["max_length"], "batch": cfg["batch"], "epochs": cfg["epochs"],
           "epoch_seconds": {v: r["epoch_s"] for v, r in runs.items()}}
    later = lambda v: sum(runs[v]["epoch_s"][1:]) / (cfg["epochs"] - 1)  # noqa: E731
    out["bf16_cache_epoch2_over_epoch1"] = runs["bf16_cache"]["epoch_s"][1] / runs["bf16_cache"]["epoch_s"][0]
    out["cached_epoch_over_uncached_epoch"] = later("bf16_cache") / later("no_cache")
    out["first_epoch_with_over_without_cache"] = runs["bf16_cache"]["epoch_s"][0] / runs["no_cache"]["epoch_s"][0]
    # robust to load that comes and goes: each cached step against the uncached step run right after it
    step_ratio = [median([a / b for a, b in zip(runs["bf16_cache"]["steps"][e], runs["no_cache"]["steps"][e])])
                  for e in range(cfg["epochs"])]
    out["median_step_ratio_cached_over_uncached_by_epoch"] = step_ratio
    out["cached_over_uncached_step_median"] = median(step_ratio[1:])
    out["epoch2_over_epoch1_interleaved"] = step_ratio[1] / step_ratio[0]  # the uncached run as the yardstick
    out["cache"] = runs["bf16_cache"]["module"].teacher_cache.stats()
    fidelity = {}
    for variant, run in runs.items():
        m = run["module"]
        fidelity[variant] = {k: v for k, v in evaluate_network(m, name, val, collator, 64, device).items()
                             if k in ("cosine", "rel_l2")}
    out["validation_fidelity"] = fidelity
    ref = runs["no_cache"]["module"].trainable_state_dict()
    out["max_abs_param_diff_vs_no_cache"] = {
        v: max(float((r["module"].trainable_state_dict()[k] - t).abs().max()) for k, t in ref.items())
        for v, r in runs.items() if v != "no_cache"}
    # the storage error of the low-precision cache on the teacher's outputs
    cache = runs["bf16_cache"]["module"].teacher_cache
    entries = list(cache.entries.items())[:256]
    exact = runs["fp32_cache"]["module"].teacher_cache if "fp32_cache" in runs else None
    if exact is not None:
        num = sum(float((exact.entries[k][1] - y.float()).pow(2).sum()) for k, (_, y) in entries)
        den = sum(float(exact.entries[k][1].pow(2).sum()) for k, _ in entries)
        out["bf16_target_rel_l2_error"] = (num / den) ** 0.5
    else:
        out["bf16_target_rel_l2_error_bound"] = 2**-9  # round-to-nearest bf16: 8 significant bits
    log(f"cache {name}: epoch2/epoch1 {out['bf16_cache_epoch2_over_epoch1']:.2f} (interleaved "
        f"{out['epoch2_over_epoch1_interleaved']:.2f}), cached/uncached {out['cached_epoch_over_uncached_epoch']:.2f} "
        f"(median step ratio {out['cached_over_uncached_step_median']:.2f}), fidelity {fidelity}")
    return out


def trainer_epochs(make_host, tokenizer, name, cfg, device):
    """The user's path: CKBTrainer (cache on by default) for two epochs; seconds per epoch from a callback."""
    from transformers import TrainerCallback

    from hf_ckb import InterfaceConfig, InterfaceModel
    from hf_ckb.training import CKBTrainer, CKBTrainingModule, ckb_training_args

    class EpochTimer(TrainerCallback):
        def __init__(self):
            self.seconds = []

        def on_epoch_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_epoch_end(self, *a, **k):
            self.seconds.append(time.perf_counter() - self.start)

    train = tokenized_dataset(tokenizer, rotten_tomatoes_texts()[: cfg["n"]], cfg["max_length"])
    ckb = make_ckb(device)
    module = CKBTrainingModule(ckb, {name: InterfaceModel(make_host(), ckb, InterfaceConfig())})
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as tmp:
        args = ckb_training_args(tmp, "import", num_train_epochs=2, per_device_train_batch_size=cfg["batch"],
                                 learning_rate=cfg["lr"], disable_tqdm=True, logging_steps=10**6, seed=0,
                                 use_cpu=torch.device(device).type == "cpu", dataloader_num_workers=0)
        trainer = CKBTrainer(module, args, train_datasets={name: train}, tokenizers={name: tokenizer},
                             callbacks=[timer])
        trainer.train()
    stats = module.teacher_cache.stats() if module.teacher_cache is not None else None
    out = {"epoch_seconds": timer.seconds, "epoch2_over_epoch1": timer.seconds[1] / timer.seconds[0], "cache": stats}
    log(f"trainer {name}: epochs {timer.seconds}, epoch2/epoch1 {out['epoch2_over_epoch1']:.2f}")
    return out


def section_cache(cfg, device):
    out = {}
    tok = word_tokenizer()
    out["rnn"] = cache_experiment("rnn", lambda: make_network("rnn", len(tok)).to(device), tok, cfg["rnn"], device,
                                  with_exact=True)
    host, mtok = minilm_host(device)
    state = {k: v.clone() for k, v in host.state_dict().items()}

    def fresh_minilm():
        from transformers import AutoModelForSequenceClassification

        from hf_ckb.data import minilm_path

        model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
        model.load_state_dict(state)
        return model.eval().to(device)

    out["minilm"] = cache_experiment("minilm", fresh_minilm, mtok, cfg["minilm"], device, with_exact=cfg["exact"])
    if cfg.get("trainer", True):
        out["minilm_trainer"] = trainer_epochs(fresh_minilm, mtok, "minilm", cfg["minilm"], device)
    return out


# ================================================================================================ 6. multi-process
def section_ddp(cfg, device):
    tok = word_tokenizer()
    out = {"steps": cfg["steps"], "global_batch": cfg["global_batch"], "length": cfg["length"], "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = os.path.join(tmp, "tok")
        tok.save_pretrained(tok_dir)
        worker = os.path.join(HERE, "ddp_worker.py")
        common = ["--tokenizer", tok_dir, "--steps", str(cfg["steps"]), "--global-batch", str(cfg["global_batch"]),
                  "--length", str(cfg["length"]), "--size", cfg["size"]]
        launchers = {
            "1proc_1thread": [sys.executable, worker, "--threads", "1"],
            "1proc_2threads": [sys.executable, worker, "--threads", "2"],
            "2proc_1thread": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                              "--master_port", "29517", worker, "--threads", "1"],
        }
        if cfg.get("accelerate", True):
            # `accelerate launch --cpu --num_processes 2` starts ONE process unless MPI is set up (--mpirun_hostfile);
            # --multi_gpu starts torch.distributed processes, which the Trainer runs on gloo when use_cpu=True.
            launchers["2proc_accelerate"] = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2",
                                             "--main_process_port", "29518", worker, "--threads", "1"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        for name, cmd in launchers.items():
            folder = os.path.join(tmp, name)
            start = time.perf_counter()
            proc = subprocess.run(cmd + ["--out", folder] + common, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                out["runs"][name] = {"error": proc.stderr[-2000:]}
                log(f"ddp {name} failed:\n{proc.stderr[-2000:]}")
                continue
            with open(os.path.join(folder, "run.json")) as f:
                run = json.load(f)
            from safetensors.torch import load_file

            expected = 2 if name.startswith("2proc") else 1
            if run["world_size"] != expected:
                out["runs"][name] = {"error": f"ran with world size {run['world_size']}, expected {expected}"}
                continue
            run["state"] = load_file(os.path.join(folder, "trainable.safetensors"))
            run["wall_seconds_with_startup"] = wall
            out["runs"][name] = run
            log(f"ddp {name}: {run['examples_per_s']:.1f} examples/s")
        ref = out["runs"].get("1proc_1thread", {}).get("state")
        for name, run in out["runs"].items():
            state = run.pop("state", None)
            if state is not None and ref is not None:
                run["max_abs_diff_vs_1proc"] = max(float((state[k] - ref[k]).abs().max()) for k in ref)
                run["max_rel_diff_vs_1proc"] = max(float((state[k] - ref[k]).norm() / ref[k].norm()) for k in ref)
    base = out["runs"].get("1proc_2threads", {}).get("examples_per_s")
    for run in out["runs"].values():
        if base and "examples_per_s" in run:
            run["throughput_over_1proc_2threads"] = run["examples_per_s"] / base
    return out


# ================================================================================================ 7. GPU
def section_gpu(cfg, device):
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    from gpu import run_gpu

    return run_gpu(cfg)


# ================================================================================================ main
CONFIGS = {
    "full": {
        "attention": dict(B=32, T=32, Ks=(5, 10, 20, 40), repeats=5,
                          growth=dict(B=16, Ts=(32, 64, 128, 256), T_fixed=64)),
        "recurrent": dict(batches=(32, 8), T_rec=64, repeats=7, min_time=0.5),
        "floor": dict(B=32, max_length=64, kinds=("rnn", "cnn", "ann"), repeats=11, min_time=0.3, compile=True),
        "memory": dict(B=32, max_length=64, kinds=("rnn", "cnn", "ann")),
        "cache": dict(rnn=dict(n=1000, n_val=300, max_length=64, batch=32, epochs=3, lr=1e-3),
                      minilm=dict(n=1000, n_val=300, max_length=48, batch=32, epochs=3, lr=1e-3), exact=False),
        "ddp": dict(steps=30, global_batch=32, length=24, size="paper"),
        "gpu": dict(quick=False),
    },
    "quick": {
        "attention": dict(B=4, T=8, Ks=(5, 10, 20), repeats=2, growth=dict(B=2, Ts=(8, 16, 32), T_fixed=8)),
        "recurrent": dict(batches=(4, 2), T_rec=16, repeats=2),
        "floor": dict(B=8, max_length=16, kinds=("rnn", "cnn", "ann"), repeats=2),
        "memory": dict(B=8, max_length=16, kinds=("rnn",)),
        "cache": dict(rnn=dict(n=64, n_val=32, max_length=16, batch=16, epochs=2, lr=1e-3),
                      minilm=dict(n=32, n_val=16, max_length=16, batch=16, epochs=2, lr=1e-3), exact=True,
                      trainer=True),
        "ddp": dict(steps=4, global_batch=8, length=8, size="tiny", accelerate=True),
        "gpu": dict(quick=True),
    },
}


def targets(results) -> dict:
    """Each target of the issue: the measured value and whether it is met."""
    found = {}
    att = results.get("attention", {}).get("loop_vs_batched", {})
    vals = [att[k]["loop_over_batched"]["ratio"] for k in ("rnn_K20", "ann_K20") if k in att]
    if vals:
        found["batched_vs_loop_K20"] = min(vals)
    cache = results.get("cache", {}).get("minilm")
    if cache:
        found["cached_epoch_minilm"] = cache["cached_over_uncached_step_median"]
    rec = results.get("recurrent")
    if rec:
        found["teacher_forced_T64"] = rec["stepping_over_teacher_forced"]["ratio"]
    for kind, entry in results.get("floor", {}).get("networks", {}).items():
        found[f"import_vs_train_{kind}"] = entry["import_over_train"]["ratio"]
    ddp = results.get("ddp", {}).get("runs", {})
    diffs = [r["max_rel_diff_vs_1proc"] for n, r in ddp.items() if n.startswith("2proc") and "max_rel_diff_vs_1proc" in r]
    if diffs:
        found["ddp_equal"] = max(diffs)
    out = {}
    for key, value in found.items():
        what, op, goal = TARGETS[key]
        out[key] = {"what": what, "target": f"{op} {goal}", "measured": value,
                    "met": value >= goal if op == ">=" else value <= goal}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"Comma-separated subset of {SECTIONS}.")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (CPU).")
    p.add_argument("--quick", action="store_true", help="Tiny sizes: checks that every section runs.")
    p.add_argument("--output", default=HERE, help="Folder for results.json and RESULTS.md.")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    configs = CONFIGS["quick" if args.quick else "full"]
    path = os.path.join(args.output, "results.json")
    results = {}
    if os.path.isfile(path) and not args.quick:
        with open(path) as f:
            results = json.load(f)  # sections not run keep their previous figures
    env = {
        "sections": sections,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu",
        "python": platform.python_version(), "quick": args.quick, "load_average_at_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    partial = set(sections) != set(SECTIONS) and "environment" in results
    if partial:  # a re-run of some sections: the full run's environment stays, this one is recorded beside it
        results.setdefault("reruns", []).append(env)
    else:
        results["environment"] = env
        results.pop("reruns", None)
    started = time.perf_counter()
    for name in sections:
        log(f"== {name}")
        t0 = time.perf_counter()
        results[name] = globals()[f"section_{name}"](configs[name], args.device)
        results[name]["section_seconds"] = time.perf_counter() - t0
    env["total_seconds"] = time.perf_counter() - started
    env["load_average_at_end"] = os.getloadavg()
    results["targets"] = targets(results)
    os.makedirs(args.output, exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2, default=float)
    from report import write_report

    write_report(results, os.path.join(args.output, "RESULTS.md"))
    log(f"wrote {path}")
    for key, t in results["targets"].items():
        log(f"target {key}: {t['measured']:.3g} ({t['target']}) {'met' if t['met'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
