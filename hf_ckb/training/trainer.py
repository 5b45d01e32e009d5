"""`transformers.Trainer` subclasses for importing into and exporting out of a CKB.

They change four things of the stock Trainer: the loss (the imitation Δ of every network, summed, in one forward),
evaluation (fidelity + task accuracy per network, and the min accuracy over networks of Eq. A.1 as the selection
metric), what a checkpoint holds (the CKB and interfaces, never the frozen hosts), and a stop on a non-finite loss.
"""

import dataclasses
import functools
import json
import logging
import math
import os
import re

import torch
from torch.utils.data import DataLoader
from transformers import Trainer, TrainingArguments

from ..data.loading import labelled_collator
from ..metrics import load_metric
from .cache import cache_dtype, count_tokens, estimate_bytes, row_widths
from .losses import fidelity_sums, imitation_loss, summarise_fidelity
from .modules import CKBTrainingModule, JointCollator, JointDataset

logger = logging.getLogger(__name__)

# Appendix A.2: AdamW (0.9, 0.98), eps 1e-9, weight decay 0.01; lr 2e-4 import, 1e-4 export.
PAPER_OPTIMIZER = {"adam_beta1": 0.9, "adam_beta2": 0.98, "adam_epsilon": 1e-9, "weight_decay": 0.01}
DEFAULT_TEACHER_CACHE_BYTES = 1024**3


@dataclasses.dataclass
class CKBTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the teacher cache of import (see `hf_ckb.training.cache`)."""

    teacher_cache_bytes: int = dataclasses.field(
        default=0, metadata={"help": "Import: cache each frozen host function's inputs/outputs per example in at most "
                                     "this many bytes of CPU memory, so later epochs skip the hosts. 0 disables."})
    teacher_cache_dtype: str = dataclasses.field(
        default="auto", metadata={"help": "'float32' (exact), 'bfloat16', 'float16', or 'auto': float32 if the whole "
                                          "training set fits in teacher_cache_bytes, else bfloat16 if that fits, "
                                          "else no cache."})
    compile_interfaces: bool = dataclasses.field(
        default=False, metadata={"help": "torch.compile the interface blocks (dynamic shapes); see "
                                          "CKBTrainingModule.compile_interfaces."})


def ckb_training_args(output_dir: str, mode: str = "import", **overrides) -> CKBTrainingArguments:
    """`TrainingArguments` with the paper's optimiser, the learning rate of `mode`, and the settings a CKB
    Trainer needs (nested batches keep all columns; checkpoints selected by the min accuracy of Eq. A.1). Import
    caches the teacher outputs by default when the training set fits in 1 GiB (`teacher_cache_bytes=0` disables)."""
    defaults = dict(PAPER_OPTIMIZER, learning_rate=2e-4 if mode == "import" else 1e-4, remove_unused_columns=False,
                    metric_for_best_model="min_accuracy", greater_is_better=True, report_to="none",
                    save_strategy="no", eval_strategy="no", logging_steps=50, disable_tqdm=False,
                    dataloader_pin_memory=False,
                    teacher_cache_bytes=DEFAULT_TEACHER_CACHE_BYTES if mode == "import" else 0)
    defaults.update(overrides)
    return CKBTrainingArguments(output_dir=output_dir, **defaults)


class CKBTrainer(Trainer):
    r"""
    Trains a [`CKBTrainingModule`] on each network's own dataset.

    Args:
        model: the CKB and its networks (mode 'import' or 'export').
        args: see [`ckb_training_args`].
        train_datasets: network name -> tokenized dataset (`input_ids`, `attention_mask`; no labels needed).
        eval_datasets: network name -> tokenized dataset with `labels`/`label`, for fidelity and accuracy.
        tokenizers: network name -> tokenizer (pads that network's batches).
    """

    def __init__(self, model: CKBTrainingModule, args: TrainingArguments, train_datasets: dict | None = None,
                 eval_datasets: dict | None = None, tokenizers: dict | None = None, **kwargs):
        if not isinstance(model, CKBTrainingModule):
            raise TypeError(f"CKBTrainer trains a CKBTrainingModule, got {type(model).__name__}.")
        tokenizers = tokenizers or {}
        missing = set(model.networks) - set(tokenizers)
        if missing:
            raise ValueError(f"No tokenizer for networks {sorted(missing)}.")
        self.tokenizers = dict(tokenizers)
        self.collators = {name: labelled_collator(tok) for name, tok in tokenizers.items()}
        self.eval_datasets = eval_datasets or {}
        if not args.remove_unused_columns is False:
            args = dataclasses.replace(args, remove_unused_columns=False)
        super().__init__(model=model, args=args,
                         train_dataset=JointDataset(train_datasets) if train_datasets else None,
                         eval_dataset=self.eval_datasets or None,
                         data_collator=JointCollator(self.collators), **kwargs)
        self.model_accepts_loss_kwargs = False  # our loss is a mean per network; let the Trainer scale for GA
        self._setup_teacher_cache(model, train_datasets or {})
        if getattr(self.args, "compile_interfaces", False):
            model.compile_interfaces()

    def _setup_teacher_cache(self, model: CKBTrainingModule, train_datasets: dict) -> None:
        """Turns on `model`'s teacher cache (import only) with the dtype `teacher_cache_dtype` decides."""
        budget = getattr(self.args, "teacher_cache_bytes", 0)
        if model.mode != "import":
            return
        model.disable_teacher_cache()
        if budget <= 0 or not train_datasets:
            return
        choice = getattr(self.args, "teacher_cache_dtype", "auto")
        widths = {}
        for name, net in model.networks.items():
            configs = [net.interface_configs[w.active_interface] for w in net.interface_layers()
                       if w.active_interface is not None]
            if len(configs) == 1:
                widths[name] = row_widths(configs[0])
        tokens = {name: count_tokens(train_datasets[name]) for name in widths if name in train_datasets}
        candidates = [torch.float32, torch.bfloat16] if choice == "auto" else [cache_dtype(choice)]
        for dtype in candidates:
            needed = estimate_bytes(tokens, widths, dtype)
            if needed <= budget or choice != "auto":
                model.enable_teacher_cache(budget, dtype)
                logger.info(f"Teacher cache on ({dtype}, ~{needed / 2**20:.0f} MiB for the training set).")
                return
        logger.warning(f"Teacher cache off: the training set needs ~{needed / 2**20:.0f} MiB in bfloat16, more than "
                       f"teacher_cache_bytes={budget}.")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs["loss"]
        if model.training and not torch.isfinite(loss):
            parts = {k: float(v.detach()) for k, v in outputs.items() if k != "loss"}
            raise FloatingPointError(
                f"Non-finite loss at step {self.state.global_step} ({parts}). Training stopped before the update; "
                f"the last good checkpoint in {self.args.output_dir!r} is kept. Lower the learning rate or check "
                "the inputs.")
        return (loss, outputs) if return_outputs else loss

    # ------------------------------------------------------------------------------------------- evaluation
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Per network: `<name>_accuracy` through the host's own head, `<name>_cosine` and `<name>_rel_l2` fidelity,
        `<name>_loss`; then `min_accuracy` (Eq. A.1) and `loss` (their sum)."""
        datasets = eval_dataset if isinstance(eval_dataset, dict) else self.eval_datasets
        if not datasets:
            raise ValueError("No evaluation datasets: pass eval_datasets={network name: dataset}.")
        module = self.accelerator.unwrap_model(self.model)
        metrics = {}
        for name, dataset in datasets.items():
            collator = labelled_collator(self.tokenizers[name], dataset)  # per-token labels: -100 padding
            for key, value in evaluate_network(module, name, dataset, collator,
                                               self.args.per_device_eval_batch_size, self.args.device).items():
                metrics[f"{metric_key_prefix}_{name}_{key}"] = value
        accuracies = [v for k, v in metrics.items() if k.endswith("_accuracy")]
        if accuracies:
            metrics[f"{metric_key_prefix}_min_accuracy"] = min(accuracies)
        metrics[f"{metric_key_prefix}_loss"] = sum(v for k, v in metrics.items() if k.endswith("_loss"))
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ------------------------------------------------------------------------------------------- checkpoints
    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """`Trainer.train`; `resume_from_checkpoint=True` resumes from the last *complete* checkpoint in
        `output_dir`, passing over one that a killed run left half-written (see `last_complete_checkpoint`)."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = last_complete_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"No complete checkpoint-* folder in {self.args.output_dir!r} to resume from: "
                                 "start the run again without resuming.")
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        if self.args.should_save:
            self.accelerator.unwrap_model(self.model).save_checkpoint(output_dir or self.args.output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        self.accelerator.unwrap_model(model or self.model).load_checkpoint(resume_from_checkpoint)

    def _load_best_model(self) -> None:
        self.accelerator.unwrap_model(self.model).load_checkpoint(self.state.best_model_checkpoint)


def last_complete_checkpoint(folder: str) -> str | None:
    """The `checkpoint-<step>` folder of `folder` with the highest step that was written to the end, or None.

    The Trainer writes `trainer_state.json` last, and not atomically: a run killed while saving leaves a folder
    without it, or with a truncated one. The stock `get_last_checkpoint` would resume from that folder (without its
    optimizer state, or not at all); such folders are skipped here, with a warning."""
    steps = {}
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        match = re.fullmatch(r"checkpoint-(\d+)", name)
        if match and os.path.isdir(os.path.join(folder, name)):
            steps[int(match.group(1))] = os.path.join(folder, name)
    for step in sorted(steps, reverse=True):
        try:
            with open(os.path.join(steps[step], "trainer_state.json")) as f:
                json.load(f)
        except (OSError, ValueError):
            logger.warning(f"Skipping {steps[step]!r}: it was not written to the end (no readable trainer_state.json).")
            continue
        return steps[step]
    return None


CKBImportTrainer = CKBTrainer  # the module's mode decides import vs export; two names read better at call sites
CKBExportTrainer = CKBTrainer


@torch.no_grad()
def evaluate_network(module: CKBTrainingModule, name: str, dataset, collator, batch_size: int = 64,
                     device=None) -> dict[str, float]:
    """Fidelity of network `name` to what it imitates, and its task accuracy.

    Import: fidelity of the interface to the host function (teacher-forced), accuracy of the CKB-backed host
    (a recurrent interface runs on its own states). Export: fidelity of the target function to the interface, and
    the accuracy of the target network alone.
    """
    net = module.networks[name]
    device = device or next(net.parameters()).device
    was_training = net.training
    net.eval()
    task_mode = "interface" if module.mode == "import" else "host"
    sums, losses, predictions, references = {}, [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collator):
        batch = {k: v.to(device) for k, v in batch.items()}
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch.get("attention_mask")}
        with net.mode(module.mode):
            net(**inputs)
        for r in net.records:
            for key, value in fidelity_sums(r.prediction, r.target, r.mask).items():
                sums[key] = sums.get(key, 0.0) + value
            losses.append(float(imitation_loss(r.prediction, r.target, r.mask, module.loss)))
        labels = batch.get("labels")
        if labels is not None:
            with net.mode(task_mode):
                logits = net(**inputs).logits
            keep = labels != -100
            predictions.append(logits.argmax(-1)[keep].cpu())
            references.append(labels[keep].cpu())
    net.train(was_training)
    metrics = {**summarise_fidelity(sums), "loss": sum(losses) / max(len(losses), 1)}
    if predictions:
        metrics["accuracy"] = accuracy(torch.cat(predictions), torch.cat(references))
    return metrics


def accuracy(predictions: torch.Tensor, references: torch.Tensor) -> float:
    """Accuracy with the `evaluate` metric module shipped in the package."""
    if len(references) == 0:
        return math.nan
    return _accuracy_metric().compute(predictions=predictions.tolist(), references=references.tolist())["accuracy"]


@functools.cache
def _accuracy_metric():
    return load_metric("accuracy")
