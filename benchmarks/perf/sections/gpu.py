"""Section 7, the GPU part of the benchmark, run only when CUDA is present.

- bf16 and fp16 (autocast) import of all-MiniLM-L6-v2 (global interface on `bert.encoder`): examples/s of the
  import step vs the teacher's forward and a plain fine-tuning step, and peak memory (max_memory_allocated);
- the same with the paper's large CKB (K=20, n_l=40, n_h=20, d=2048): examples/s and the interface's achieved
  TFLOP/s (FLOPs counted by `torch.utils.flop_counter`) against the card's dense bf16 peak (a table of known cards)
  and against a measured large bf16 matmul;
- whether `scaled_dot_product_attention` picks a fused kernel (flash / memory-efficient) for the shapes a k-folded
  low-level attention would have (the package's batched attention uses einsums with a joint log-sum-exp instead).
"""

from __future__ import annotations

import time
import traceback

import torch

from common import interleaved, make_ckb, median, minilm_host, ratio, rotten_tomatoes_texts
from measure import flops_of, peak_tensor_bytes
from steps import function_call

FULL = dict(quick=False)
QUICK = dict(quick=True)

DENSE_BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "L40": 181.0}


def card_peak(name: str) -> float | None:
    for key, value in DENSE_BF16_PEAK_TFLOPS.items():
        if key in name:
            return value
    return None


def measured_matmul_tflops(n: int = 8192) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start, reps = time.perf_counter(), 20
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e12


def amp_step(loss_fn, opt, scaler, autocast):
    """A callable: `loss_fn()` under `autocast()`, backward through `scaler` (loss scaling, on for float16), an
    optimiser step, gradients dropped."""
    def step():
        with autocast():
            loss = loss_fn()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
    return step


def minilm_import(ckb_sizes: dict, dtype: torch.dtype, batch: int, max_length: int, repeats: int,
                  device: str = "cuda") -> dict:
    from transformers import AutoModelForSequenceClassification

    from hf_ckb import InterfaceConfig, InterfaceModel
    from hf_ckb.data import minilm_path
    from hf_ckb.training import CKBTrainingModule

    host, tok = minilm_host(device)
    enc = tok(rotten_tomatoes_texts()[:batch], truncation=True, max_length=max_length, padding=True,
              return_tensors="pt")
    inputs = {k: enc[k].to(device) for k in ("input_ids", "attention_mask")}
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    plain = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2).to(device)
    ckb = make_ckb(device, **ckb_sizes)
    heads = 16 if ckb.config.hidden_size >= 1024 else 4
    module = CKBTrainingModule(ckb, {"minilm": InterfaceModel(host, ckb, InterfaceConfig(num_heads=heads))})
    module.train()
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4, fused=True)
    popt = torch.optim.AdamW(plain.parameters(), lr=1e-4, fused=True)
    scaler = torch.amp.GradScaler(device, enabled=dtype == torch.float16)
    wrapper = module.networks["minilm"].interface_layers()[0]

    def autocast():
        return torch.autocast(device, dtype=dtype)

    import_step = amp_step(lambda: module(minilm=inputs)["loss"], opt, scaler, autocast)
    plain_step = amp_step(lambda: plain.train()(**inputs, labels=labels).loss, popt, scaler, autocast)

    def teacher_forward():
        with torch.no_grad(), autocast():
            plain.eval()(**inputs)

    # the interface alone (forward + backward) on the encoder's input, for its achieved FLOP rate
    with autocast():
        args, kwargs, out = function_call(module.networks["minilm"], inputs)

    def interface_step():
        with autocast():
            y = wrapper.parallel_forward(args, kwargs, out)
        y.float().square().mean().backward()

    flops = flops_of(interface_step)
    fns = {"import_step": import_step, "teacher_forward": teacher_forward, "plain_train_step": plain_step,
           "interface_step": interface_step}
    times = interleaved(fns, repeats, warmup=3, device=device, min_time=0.05)
    mem = {name: peak_tensor_bytes(fns[name], device) / 2**20
           for name in ("teacher_forward", "import_step", "plain_train_step") if device == "cuda"}
    t = {k: median(v) for k, v in times.items()}
    return {"dtype": str(dtype).removeprefix("torch."), "batch": batch, "padded_length": inputs["input_ids"].shape[1],
            "ckb": ckb_sizes or "paper small", "ms": {k: 1e3 * v for k, v in t.items()},
            "import_examples_per_s": batch / t["import_step"],
            "import_over_train": ratio(times, "import_step", "plain_train_step")["ratio"],
            "import_over_teacher_forward": ratio(times, "import_step", "teacher_forward")["ratio"],
            "interface_tflops_achieved": flops / t["interface_step"] / 1e12, "interface_gflop_per_step": flops / 1e9,
            "peak_MiB_above_model": mem}


def sdpa_kernels(dtype=torch.bfloat16) -> dict:
    """Which fused kernels accept the shapes of a k-folded low-level attention (N*K batch, n_l + T keys, a padding
    mask) and of the same without a mask."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    N, K, H, T, n_l, e = 32, 20, 16, 48, 40, 128
    q = torch.randn(N * K, H, T, e, device="cuda", dtype=dtype)
    kv = torch.randn(N * K, H, n_l + T, e, device="cuda", dtype=dtype)
    mask = torch.ones(N * K, 1, T, n_l + T, device="cuda", dtype=torch.bool)
    mask[:, :, :, -5:] = False
    out = {}
    for label, m in (("no_mask", None), ("padding_mask", mask)):
        for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION):
            try:
                with sdpa_kernel([backend]):
                    torch.nn.functional.scaled_dot_product_attention(q, kv, kv, attn_mask=m)
                torch.cuda.synchronize()
                out[f"{label}/{backend.name}"] = "runs"
            except RuntimeError as err:
                out[f"{label}/{backend.name}"] = f"refused ({str(err).splitlines()[0][:80]})"
    return out


def run(cfg, device) -> dict:
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    quick = cfg.get("quick", False)
    name = torch.cuda.get_device_name()
    out = {"device": name, "card_dense_bf16_peak_tflops": card_peak(name)}
    try:
        out["measured_bf16_matmul_tflops"] = measured_matmul_tflops(2048 if quick else 8192)
    except Exception:  # noqa: BLE001
        out["measured_bf16_matmul_tflops"] = traceback.format_exc(limit=1)
    batch, length, repeats = (16, 32, 3) if quick else (128, 48, 10)
    large = dict(num_low_level=20, low_level_size=40, high_level_size=20, hidden_size=2048)
    for label, sizes, dtype in (("minilm_small_ckb_bf16", {}, torch.bfloat16),
                                ("minilm_small_ckb_fp16", {}, torch.float16),
                                ("minilm_large_ckb_bf16", large, torch.bfloat16),
                                ("minilm_large_ckb_fp16", large, torch.float16)):
        try:
            r = minilm_import(sizes, dtype, batch, length, repeats)
            peak = out["card_dense_bf16_peak_tflops"]
            r["interface_share_of_card_peak"] = r["interface_tflops_achieved"] / peak if peak else None
            out[label] = r
        except Exception:  # noqa: BLE001
            out[label] = {"error": traceback.format_exc(limit=3)}
        torch.cuda.empty_cache()
    try:
        out["sdpa_fused_kernels"] = sdpa_kernels()
    except Exception:  # noqa: BLE001
        out["sdpa_fused_kernels"] = traceback.format_exc(limit=2)
    out["note"] = ("CKBAttention uses einsums and a joint log-sum-exp, not scaled_dot_product_attention: its low level "
                   "attends one query per row to K x n_l shared memory keys plus T input keys; sdpa_fused_kernels "
                   "says whether a k-folded sdpa formulation could use a fused kernel on this card.")
    return out
