"""Importing into a CKB that already serves other networks, without their teachers (issue 11).

`ContinualTrainingModule` is an import (`CKBTrainingModule`: the CKB and the new networks' interfaces learn to
imitate the new hosts) with *anchors*: the bundle's earlier networks, each running through its own frozen interface
on the shared CKB. With `anchor_weight > 0` (the `regularised` method) every step also pulls each earlier network's
CKB-backed logits back to what they were before the import began, on inputs of that network (functional
regularisation: the earlier interfaces are their own targets, so no earlier teacher is needed). With
`anchor_weight = 0` (the `naive` method) the anchors are not run: the CKB simply learns the new networks.

The default weight, 100, is what more than halved an earlier network's drift in the tiny test (tests/test_continual.py:
30 steps, the memory design, 0.42x the naive drift); it is not yet chosen on a benchmark.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..interface import InterfaceModel
from .modules import CKBTrainingModule

METHODS = ("naive", "regularised", "routing", "combined")  # combined: routing and regularised


class ContinualTrainingModule(CKBTrainingModule):
    """An import of `networks` into `ckb` that keeps `anchors` (earlier networks on the same CKB) as they were.

    Batches name the new networks (their import batches) and the anchors (inputs of that earlier network, e.g. the
    new data read by its own tokenizer). An anchor's part of the loss is `anchor_weight` times the normalised squared
    difference between its CKB-backed logits now and with the CKB as it was when this module was made (a frozen
    copy, outside the module: never trained, never saved)."""

    def __init__(self, ckb, networks: dict[str, InterfaceModel], anchors: dict[str, InterfaceModel],
                 anchor_weight: float = 100.0, loss: str = "nmse"):
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
        """Squared difference of earlier network `name`'s CKB-backed logits from what they were, over their mean
        square."""
        before = self._before[name].to(input_ids.device)
        with torch.no_grad(), before.mode("interface"):
            target = before(input_ids=input_ids, attention_mask=attention_mask).logits
        net = self.anchors[name]
        with net.mode("interface"):
            logits = net(input_ids=input_ids, attention_mask=attention_mask).logits
        # normalised by the logits' own scale, as the import's nmse is: a weight of 1 weighs both alike
        return F.mse_loss(logits, target) / target.pow(2).mean().clamp_min(1e-8)


__all__ = ["METHODS", "ContinualTrainingModule"]
