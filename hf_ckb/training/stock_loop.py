"""The stock `transformers.Trainer` loop for the runs that are neither an import nor an export (distillation,
adapting an interface, a CKB-based classifier), and how their results are saved.

Progress bar, AdamW, cosine schedule with warmup, evaluation every `eval_steps` on the labelled validation set, the
best-validation-accuracy checkpoint restored at the end, as `hf_ckb.pipeline.finetune` does. Only the checkpoint
files differ: a checkpoint holds just the *trainable* tensors (`trainable.safetensors`, see
`hf_ckb.training.trainable_checkpoint`), in `output_dir/checkpoints/<run>/`.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..bundle import Bundle
from ..data.loading import labelled_collator
from ..interface import InterfaceModel
from ..layout import checkpoints_dir
from .arguments import run_arguments
from .trainable_checkpoint import TrainableCheckpointTrainer
from .trainer import accuracy


def compute_accuracy(prediction) -> dict[str, float]:
    """Accuracy over the examples (or, for per-token predictions, the positions) that have a label."""
    predictions = torch.as_tensor(prediction.predictions)
    labels = torch.as_tensor(prediction.label_ids)
    keep = labels != -100
    return {"accuracy": accuracy(predictions[keep], labels[keep])}


def _argmax(logits, labels):
    return logits.argmax(-1)  # only the predictions are kept across evaluation batches, not the logits


def train_stock(module: nn.Module, tokenizer, train, validation, output_dir: str, run: str, steps: int,
                learning_rate: float, batch_size: int, eval_steps: int, seed: int, data_collator=None,
                callbacks=None, **training_args) -> TrainableCheckpointTrainer:
    """Trains `module` (`forward(input_ids, attention_mask, labels)` -> `{"loss", "logits"}`) with the stock loop,
    checkpoints in `output_dir/checkpoints/<run>/`, keeping the best validation accuracy, and restores it."""
    if not any(p.requires_grad for p in module.parameters()):
        raise ValueError("Nothing to train: no parameter requires a gradient.")
    args = run_arguments(checkpoints_dir(output_dir, run), steps=steps, learning_rate=learning_rate,
                         batch_size=batch_size, eval_steps=eval_steps, seed=seed, save_only_model=True,
                         label_names=["labels"], **training_args)
    trainer = TrainableCheckpointTrainer(
        model=module, args=args, train_dataset=train, eval_dataset=validation,
        data_collator=data_collator or labelled_collator(tokenizer, validation), compute_metrics=compute_accuracy,
        preprocess_logits_for_metrics=_argmax, callbacks=callbacks)
    trainer.train()
    return trainer


@contextlib.contextmanager
def trainable_roles(net: InterfaceModel, interface: bool = False, function: bool = False, ckb: bool = False,
                    host: bool = False, frozen: set[str] = frozenset()):
    """Within the block, exactly the parameters of the given roles (`InterfaceModel.named_parameters_by_role`)
    train, except those named in `frozen`; afterwards every flag is as it was (the CKB may be shared by models that
    are not in this run)."""
    wanted = {"interface": interface, "function": function, "ckb": ckb, "host": host}
    groups = net.named_parameters_by_role()
    flags = {name: param.requires_grad for params in groups.values() for name, param in params.items()}
    try:
        for role, params in groups.items():
            for name, param in params.items():
                param.requires_grad = wanted[role] and name not in frozen
        yield
    finally:
        for params in groups.values():
            for name, param in params.items():
                param.requires_grad = flags[name]


def interface_name(net: InterfaceModel, name: str | None) -> str:
    """The name a trained `InterfaceModel` is saved under in a bundle: `name`, else its host's `model_type`."""
    return name or getattr(net.base_model.config, "model_type", None) or "network"


def save_interface_run(net: InterfaceModel, name: str, output_dir: str, tokenizer) -> None:
    """Writes the bundle `output_dir` (or adds to it): the CKB, `interfaces/<name>/`, `hosts/<name>/` + tokenizer."""
    tokenizers = {name: tokenizer} if tokenizer is not None else {}
    Bundle(net.ckb, interfaces={name: net}, tokenizers=tokenizers).save_pretrained(output_dir)


__all__ = ["compute_accuracy", "interface_name", "save_interface_run", "train_stock", "trainable_roles"]
