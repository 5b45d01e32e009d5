"""Section: the cost of each interface design (issue 10). On one batch of real snippets, the import step of each
paper-size network with the paper's interface and with the `memory` design, against a plain fine-tuning step of the
same network (the target: the memory design's import step within 2x of it)."""

from __future__ import annotations

import torch

from common import interleaved, log, make_network, median, ratio, real_batch, word_tokenizer
from steps import build_import, import_step, teacher_steps

FULL = dict(B=32, max_length=64, kinds=("rnn", "cnn", "ann"), designs=("paper", "memory"), repeats=11,
            min_time=0.3)
QUICK = dict(B=8, max_length=16, kinds=("rnn", "cnn", "ann"), designs=("paper", "memory"), repeats=2)


def run(cfg, device):
    tok = word_tokenizer()
    batch = real_batch(tok, cfg["B"], cfg["max_length"], device=device)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    labels = torch.randint(0, 2, (cfg["B"],), generator=torch.Generator().manual_seed(0)).to(device)
    out = {"batch": cfg["B"], "padded_length": batch["input_ids"].shape[1], "networks": {}}
    for kind in cfg["kinds"]:
        _, plain_step = teacher_steps(make_network(kind, len(tok)).to(device), inputs, labels)
        fns = {"plain_train_step": plain_step}
        for design in cfg["designs"]:
            module, opt = build_import(kind, len(tok), device, design=design)
            fns[f"import_step_{design}"] = import_step(module, opt, {kind: inputs})
        times = interleaved(fns, cfg["repeats"], warmup=2, device=device, min_time=cfg.get("min_time", 0.0))
        entry = out["networks"][kind] = {"ms": {k: 1e3 * median(v) for k, v in times.items()}}
        for design in cfg["designs"]:
            entry[f"{design}_import_over_train"] = ratio(times, f"import_step_{design}", "plain_train_step")
        if {"paper", "memory"} <= set(cfg["designs"]):
            entry["memory_over_paper_import"] = ratio(times, "import_step_memory", "import_step_paper")
        log(f"designs {kind}: " + ", ".join(f"{d} import x{entry[f'{d}_import_over_train']['ratio']:.2f}"
                                             for d in cfg["designs"]) + " a training step")
    return out
