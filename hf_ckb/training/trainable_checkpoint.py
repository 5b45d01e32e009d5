"""Checkpoints of the trainable tensors only: what `CKBTrainer` and the distillation runs save to resume.

The rest of those models is frozen (a CKB shared with other networks, a teacher) and would only be copied, and one
storage under several names (a CKB read by several `InterfaceModel`s of one module, tied weights) is refused by
safetensors. Restoring checks that a checkpoint holds exactly the trainable tensors: a silent partial load would keep
the last weights instead of the best.
"""

import os

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import Trainer

from ..utils import atomic_file

TRAINABLE_WEIGHTS_NAME = "trainable.safetensors"


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint holds: the trainable parameters, each a copy of its own (no shared storage)."""
    return {name: param.detach().clone().contiguous() for name, param in model.named_parameters()
            if param.requires_grad}


def save_trainable_state_dict(model: nn.Module, directory: str, metadata: dict | None = None) -> None:
    """Writes `model`'s trainable tensors to `directory/trainable.safetensors`, atomically."""
    os.makedirs(directory, exist_ok=True)
    with atomic_file(os.path.join(directory, TRAINABLE_WEIGHTS_NAME)) as tmp:
        save_file(trainable_state_dict(model), tmp, metadata={"format": "pt", **(metadata or {})})


@torch.no_grad()
def load_trainable_state_dict(model: nn.Module, directory: str) -> None:
    """Loads `trainable.safetensors` of `directory` into `model`'s trainable parameters; it must hold exactly them,
    with the same shapes (a silent partial load would keep the last weights instead of the best)."""
    path = os.path.join(directory, TRAINABLE_WEIGHTS_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{directory!r} holds no {TRAINABLE_WEIGHTS_NAME}.")
    state = load_file(path)
    params = {name: param for name, param in model.named_parameters() if param.requires_grad}
    if set(state) != set(params):
        raise ValueError(f"The checkpoint in {directory!r} does not fit this model: it has "
                         f"{sorted(set(state) - set(params))[:5]} unknown and lacks "
                         f"{sorted(set(params) - set(state))[:5]} tensors.")
    for name, param in params.items():
        if state[name].shape != param.shape:
            raise ValueError(f"{name}: shape {tuple(state[name].shape)} in the checkpoint, {tuple(param.shape)} here.")
        param.copy_(state[name].to(device=param.device, dtype=param.dtype))


class TrainableCheckpointTrainer(Trainer):
    """The stock Trainer, with checkpoints of the trainable tensors only (see the module docstring)."""

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        if not self.args.should_save:
            return
        save_trainable_state_dict(self.accelerator.unwrap_model(self.model), output_dir or self.args.output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        load_trainable_state_dict(self.accelerator.unwrap_model(model or self.model), resume_from_checkpoint)

    def _load_best_model(self) -> None:
        load_trainable_state_dict(self.accelerator.unwrap_model(self.model), self.state.best_model_checkpoint)
