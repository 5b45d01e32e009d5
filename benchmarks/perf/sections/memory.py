"""Section 5: peak tensor memory of the import step vs the teacher's inference and a plain training step. CPU:
replayed from torch.profiler's allocation/free events; CUDA: max_memory_allocated."""

from __future__ import annotations

import torch

from common import log, make_network, real_batch, word_tokenizer
from measure import peak_tensor_bytes
from steps import build_import, import_step, teacher_steps

FULL = dict(B=32, max_length=64, kinds=("rnn", "cnn", "ann"))
QUICK = dict(B=8, max_length=16, kinds=("rnn",))


def run(cfg, device):
    tok = word_tokenizer()
    batch = real_batch(tok, cfg["B"], cfg["max_length"], device=device)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    labels = torch.zeros(cfg["B"], dtype=torch.long, device=device)
    out = {"method": "CUDA max_memory_allocated" if torch.device(device).type == "cuda" else
           "torch.profiler allocation/free events (tensor memory, not RSS)", "networks": {}}
    for kind in cfg["kinds"]:
        module, opt = build_import(kind, len(tok), device)
        forward, train = teacher_steps(make_network(kind, len(tok)).to(device), inputs, labels)
        step = import_step(module, opt, {kind: inputs})
        step()  # optimiser state exists before measuring, as in a real step
        train()
        mib = {"teacher_forward": peak_tensor_bytes(forward, device) / 2**20,
               "plain_train_step": peak_tensor_bytes(train, device) / 2**20,
               "import_step": peak_tensor_bytes(step, device) / 2**20}
        out["networks"][kind] = {"peak_MiB": mib, "import_over_teacher_forward": mib["import_step"] /
                                 mib["teacher_forward"], "import_over_train": mib["import_step"] /
                                 mib["plain_train_step"]}
        log(f"memory {kind}: {mib}")
    return out
