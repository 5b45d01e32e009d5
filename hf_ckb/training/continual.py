"""Importing into a CKB that already serves other networks, without their teachers (issue 11).

`ContinualTrainingModule` is an import (`CKBTrainingModule`: the CKB and the new networks' interfaces learn to
imitate the new hosts) with *anchors*: the bundle's earlier networks, each with its own frozen interface on the shared
CKB. With `anchor_weight > 0` (the `regularised` method) every step also holds each earlier interface's *function*
where it was before the import began (functional regularisation: the earlier interfaces are their own targets, so no
earlier teacher is needed):

- a frozen copy of the earlier network as it was runs CKB-backed on inputs of that network (no gradient) and records
  every call of its interface blocks: the rows each block was given (for a recurrent cell, its own states) and what
  it answered;
- the anchor's loss is the normalised squared difference between the same blocks on the *current* CKB, given those
  rows, and those answers.

The rows are replayed in one batched call per block (a recurrent cell's 64 steps become one call, padding left out),
and only the first `ANCHOR_SEQUENCES` inputs of each anchor batch are used, so the anchor costs a quarter-batch
forward of the earlier network without gradient plus one parallel pass of its blocks. The first version
held the CKB-backed *logits* instead, which back-propagates through the earlier network's whole recurrence: at `ci`
scale a later import took 4x the steps' time of a naive one (benchmarks/knowledge, `continual`).

`DEFAULT_ANCHOR_WEIGHT`, 1e3, is the weight the knowledge benchmark chose on validation at `ci` scale: of 1e3 and 1e4,
only 1e3 kept the RNN's validation accuracy within 0.5 points while the CNN was imported (76.44 -> 76.10; 1e4 took it
to 74.89), see benchmarks/knowledge/results/continual/ci.md. A re-run after a rounding-level change to the memory
read chose 1e4 (1e3: 76.01, 1e4: 76.53; results/continual-rerun/ci.md): the two are level within run-to-run noise.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..interface import InterfaceModel
from .modules import CKBTrainingModule

METHODS = ("naive", "regularised", "routing", "combined")  # combined: routing and regularised
DEFAULT_ANCHOR_WEIGHT = 1e3
ANCHOR_SEQUENCES = 8  # inputs of each anchor batch the anchor replays: about 200 real rows of a recurrent cell


class ContinualTrainingModule(CKBTrainingModule):
    """An import of `networks` into `ckb` that keeps `anchors` (earlier networks on the same CKB) as they were.

    Batches name the new networks (their import batches) and the anchors (inputs of that earlier network, e.g. the
    new data read by its own tokenizer). An anchor's part of the loss is `anchor_weight` times the normalised squared
    difference between its interface blocks' answers on the current CKB and on the CKB as it was when this module
    was made (a frozen copy, outside the module: never trained, never saved), on the rows the frozen copy gave them
    (see the module docstring)."""

    def __init__(self, ckb, networks: dict[str, InterfaceModel], anchors: dict[str, InterfaceModel],
                 anchor_weight: float = DEFAULT_ANCHOR_WEIGHT, loss: str = "nmse"):
        clash = set(anchors) & set(networks)
        if clash:
            raise ValueError(f"Networks {sorted(clash)} are both new and earlier: replace them, or rename.")
        if anchor_weight < 0:
            raise ValueError(f"anchor_weight must be >= 0, got {anchor_weight}.")
        for name, net in anchors.items():
            if net.ckb is not ckb:
                raise ValueError(f"Earlier network {name!r} reads another CKB: anchors must share the CKB.")
        super().__init__(ckb, networks, "import", loss)
        self.anchors = torch.nn.ModuleDict(anchors)
        self.anchor_weight = anchor_weight
        for param in self.anchors.parameters():  # the earlier interfaces and hosts stay as they are
            if not any(param is p for p in ckb.parameters()):
                param.requires_grad = False
        self.__dict__["_before"] = {name: copy.deepcopy(net).eval() for name, net in anchors.items()}

    def forward(self, **batch) -> dict[str, torch.Tensor]:
        anchored = {name: batch.pop(name) for name in list(batch) if name in self.anchors}
        out = super().forward(**batch)
        if self.anchor_weight == 0:
            return out
        for name, inputs in anchored.items():
            part = self.anchor_weight * self._drift(name, inputs["input_ids"], inputs.get("attention_mask"))
            out[f"anchor_{name}"] = part
            out["loss"] = out["loss"] + part
        return out

    def _drift(self, name: str, input_ids, attention_mask) -> torch.Tensor:
        """Squared difference of earlier network `name`'s interface blocks from what they answered before the import,
        on the rows they were given then (`block_calls`), over the answers' mean square; averaged over blocks."""
        before = self._before[name].to(input_ids.device)
        input_ids = input_ids[:ANCHOR_SEQUENCES]
        attention_mask = None if attention_mask is None else attention_mask[:ANCHOR_SEQUENCES]
        calls = block_calls(before, input_ids, attention_mask)
        parts = []
        for block, recorded in zip(self.anchors[name].interface_blocks(), calls):
            rows, kwargs, target = recorded
            memory = block.project_memory(self.ckb.low_level, self.ckb.high_level)
            prediction = block(rows, self.ckb.low_level, self.ckb.high_level, memory=memory, **kwargs)
            # normalised by the answers' own scale, as the import's nmse is: a weight of 1 weighs both alike
            parts.append(F.mse_loss(prediction, target) / target.pow(2).mean().clamp_min(1e-8))
        return torch.stack(parts).mean()


_REPLAYED = ("mask", "causal")  # the call options a replay repeats (memory is the current CKB's, nothing is kept)


@torch.no_grad()
def block_calls(net: InterfaceModel, input_ids, attention_mask) -> list[tuple]:
    """Runs `net` CKB-backed and returns, per interface block (in `interface_blocks()` order), `(rows, options,
    answers)`: every call the block got, as one call. Calls of one row per sequence (a recurrent cell's steps, given
    its own states) are stacked into one batch of the real positions' rows; a block called with whole sequences was
    called once."""
    records = {id(block): [] for block in net.interface_blocks()}

    def hook(block, args, kwargs, output):
        answer = output[0] if isinstance(output, tuple) else output
        records[id(block)].append((args[0], {k: kwargs[k] for k in _REPLAYED if k in kwargs}, answer))

    handles = [block.register_forward_hook(hook, with_kwargs=True) for block in net.interface_blocks()]
    try:
        with net.mode("interface"):
            net(input_ids=input_ids, attention_mask=attention_mask)
    finally:
        for handle in handles:
            handle.remove()
    out = []
    for block in net.interface_blocks():
        calls = records[id(block)]
        if len(calls) == 1:
            out.append(calls[0])
        elif all(x.shape[1] == 1 and kw.get("mask") is None for x, kw, _ in calls):  # per-step rows: independent
            rows, answers = torch.cat([x for x, _, _ in calls]), torch.cat([y for _, _, y in calls])  # step-major
            if attention_mask is not None and tuple(attention_mask.shape) == (len(rows) // len(calls), len(calls)):
                real = attention_mask.T.flatten().bool()  # the steps' rows in the same (t, n) order
                rows, answers = rows[real], answers[real]
            out.append((rows, calls[0][1], answers))
        else:
            raise ValueError(f"An interface block was called {len(calls)} times with whole sequences in one forward; "
                             "its calls cannot be replayed as one.")
    return out


__all__ = ["ANCHOR_SEQUENCES", "DEFAULT_ANCHOR_WEIGHT", "METHODS", "ContinualTrainingModule", "block_calls"]
