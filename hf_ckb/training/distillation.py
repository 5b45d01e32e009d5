"""Training by distillation, and CKB-backed networks trained on labels: the procedures of the paper's transfer
experiments that are neither an import nor an export.

- [`distill`]: standard knowledge distillation (Hinton et al. 2015) of a teacher's logits into a student, on the
  teacher's inputs only (Table B.5).
- [`adapt_interface`]: gives an architecture that was never imported an interface to an existing, frozen CKB, by
  distilling a CKB-backed source network's predictions through the new interface (Table 3, cross-architecture
  transfer). The paper does not say how a never-imported architecture gets an interface; this is our reading.
- [`finetune_interface_model`]: trains a host whose function is replaced by its interface on labels, with or without
  the CKB (Table B.6, the "CKB-based model" of transfer learning).

All three run the stock `transformers.Trainer` loop (progress bar, AdamW, cosine schedule with warmup, evaluation
every `eval_steps` on the labelled validation set, the best-validation-accuracy checkpoint restored at the end), as
`hf_ckb.pipeline.finetune` does. Only the checkpoint files differ: a checkpoint holds just the *trainable* tensors
(`trainable.safetensors`, see `hf_ckb.training.trainable_checkpoint`).
Checkpoints keep no optimizer state (`save_only_model=True`): they exist to restore the best model, not to resume.
"""

from __future__ import annotations

import contextlib
import logging
import copy
import os

import torch
import torch.nn.functional as F
from torch import nn
from transformers import TrainingArguments

from ..ckb import CKBModel
from ..data.loading import labelled_collator
from ..interface import InterfaceConfig, InterfaceModel
from ..interface.layer import RecurrentInterfaceLayer
from .modules import save_standalone
from .trainable_checkpoint import TrainableCheckpointTrainer
from .trainer import accuracy

logger = logging.getLogger(__name__)

# module names of word/position embeddings across hf_ckb's networks, BERT-likes, GPT-2 and decoder-only LMs
EMBEDDING_NAMES = {"embeddings", "word_embeddings", "position_embeddings", "wte", "wpe", "embed_tokens",
                   "embed_positions"}


# ------------------------------------------------------------------------------------------------ the loss
def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """`T² · KL(softmax(teacher/T) ‖ softmax(student/T))`, averaged over examples (logits `(B, C)`) or over the
    positions where `mask` is true (per-token logits `(B, T, C)` with a `(B, T)` mask; all positions if None).

    The `T²` factor keeps the gradient's scale independent of the temperature (Hinton et al. 2015). Masked-out
    positions are dropped before the softmax, so whatever the networks put there (padding) cannot leak in."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"Student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ in shape.")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    classes = student_logits.shape[-1]
    if mask is not None:
        keep = mask.to(student_logits.device).bool()
        if tuple(keep.shape) != tuple(student_logits.shape[:-1]):
            raise ValueError(f"mask {tuple(keep.shape)} does not fit logits {tuple(student_logits.shape)}.")
        student_logits, teacher_logits = student_logits[keep], teacher_logits[keep]  # (N, C)
    student = F.log_softmax(student_logits.float().reshape(-1, classes) / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits.float().reshape(-1, classes) / temperature, dim=-1)
    if student.shape[0] == 0:  # nothing to imitate (every position masked): a zero that keeps the graph
        return student.sum() * 0.0
    kl = F.kl_div(student, teacher, reduction="batchmean", log_target=True)  # sum over classes, mean over rows
    return temperature**2 * kl


def _logits(net: nn.Module, input_ids, attention_mask) -> torch.Tensor:
    """`net`'s logits; an `InterfaceModel` runs in 'interface' mode (its host's function replaced by the
    interface), which is what a CKB-backed network is."""
    mode = net.mode("interface") if isinstance(net, InterfaceModel) else contextlib.nullcontext()
    with mode:
        out = net(input_ids=input_ids, attention_mask=attention_mask)
    if isinstance(out, torch.Tensor):
        return out
    return out["logits"] if "logits" in out else out[0]


def _positions_mask(logits: torch.Tensor, attention_mask, labels) -> torch.Tensor | None:
    """For per-token logits `(B, T, C)`: real positions (`attention_mask == 1`) with a label (`!= -100`)."""
    if logits.dim() != 3:
        return None
    mask = torch.ones(logits.shape[:2], dtype=torch.bool, device=logits.device)
    if attention_mask is not None:
        mask &= attention_mask.to(logits.device).bool()
    if labels is not None and tuple(labels.shape) == tuple(logits.shape[:2]):
        mask &= labels.to(logits.device) != -100
    return mask


class DistillationModule(nn.Module):
    r"""
    A student that learns from a frozen teacher's logits: `forward(input_ids, attention_mask, labels=None)` returns
    `{"loss", "logits"}` (the student's logits) with

        loss = T² · KL(softmax(teacher / T) ‖ softmax(student / T))  [+ alpha · cross-entropy(student, labels)]

    averaged over examples, or for per-token logits `(B, T, C)` over the positions with `attention_mask == 1` (and
    `labels != -100` when labels are given). Labels only enter the loss when `alpha > 0`; they are accepted so that
    evaluation can score accuracy.

    The teacher is not a registered submodule: the Trainer's optimizer, `state_dict()` and checkpoints see only the
    student. It always runs in eval mode (no dropout: the same target every pass) under `no_grad`, and is moved to the
    inputs' device on first use. Either network may be an `InterfaceModel`: it runs in 'interface' mode. A teacher
    that shares trainable tensors with the student (e.g. a CKB both read while the student trains it) sees them
    change: freeze them if the targets must stay fixed (as [`adapt_interface`] does).

    Args:
        student: the network that learns (any module whose output has `logits`).
        teacher: the network imitated, frozen.
        temperature: `T`, the softmax temperature of both distributions.
        alpha: weight of the cross-entropy on labels (0: pure distillation, no labels needed).
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float = 1.0, alpha: float = 0.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if teacher is student:
            raise ValueError("The teacher and the student must be different modules.")
        self.student = student
        self.__dict__["teacher"] = teacher  # not a submodule: never trained, saved or moved by the Trainer
        self.temperature = temperature
        self.alpha = alpha
        teacher.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # last: a module the teacher shares with the student (a CKB) stays in eval mode too
        return self

    @torch.no_grad()
    def teacher_logits(self, input_ids, attention_mask=None) -> torch.Tensor:
        teacher = self.teacher
        param = next(teacher.parameters(), None)
        if param is not None and param.device != input_ids.device:
            teacher.to(input_ids.device)
        if teacher.training:
            teacher.eval()
        return _logits(teacher, input_ids, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        target = self.teacher_logits(input_ids, attention_mask)
        logits = _logits(self.student, input_ids, attention_mask)
        mask = _positions_mask(logits, attention_mask, labels)
        loss = distillation_loss(logits, target.to(logits.dtype), self.temperature, mask)
        if self.alpha and labels is not None:
            labels = labels.to(logits.device)
            if mask is not None:  # per-token: padded or unlabelled positions are ignored
                labels = labels.masked_fill(~mask, -100)
            loss = loss + self.alpha * F.cross_entropy(logits.flatten(0, -2).float(), labels.flatten(),
                                                       ignore_index=-100)
        return {"loss": loss, "logits": logits}


class InterfaceTaskModule(nn.Module):
    """`net` (an `InterfaceModel`) in 'interface' mode with its host's own loss through its head:
    `forward(input_ids, attention_mask, labels=None)` -> `{"loss", "logits"}`.

    The explicit signature is what lets the stock Trainer pick the batch's columns and find the labels
    (`InterfaceModel.forward(*args, **kwargs)` shows it neither)."""

    def __init__(self, net: InterfaceModel):
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        with self.net.mode("interface"):
            out = self.net(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        if labels is not None and out.loss is None:
            raise ValueError(f"{type(self.net.base_model).__name__} returned no loss for the labels.")
        return {"loss": out.loss, "logits": out.logits} if labels is not None else {"logits": out.logits}


# ------------------------------------------------------------------------------------------------ the Trainer
def _compute_accuracy(prediction) -> dict[str, float]:
    """Accuracy over the examples (or, for per-token predictions, the positions) that have a label."""
    predictions = torch.as_tensor(prediction.predictions)
    labels = torch.as_tensor(prediction.label_ids)
    keep = labels != -100
    return {"accuracy": accuracy(predictions[keep], labels[keep])}


def _argmax(logits, labels):
    return logits.argmax(-1)  # only the predictions are kept across evaluation batches, not the logits


def _run(module: nn.Module, tokenizer, train, validation, output_dir: str, steps: int, learning_rate: float,
         batch_size: int, eval_steps: int, seed: int, data_collator=None, callbacks=None,
         **training_args) -> TrainableCheckpointTrainer:
    """Trains `module` (`forward(input_ids, attention_mask, labels)` -> `{"loss", "logits"}`) with the stock loop,
    keeping the checkpoint with the best validation accuracy, and restores it."""
    if not any(p.requires_grad for p in module.parameters()):
        raise ValueError("Nothing to train: no parameter requires a gradient.")
    eval_steps = max(1, min(eval_steps, steps))
    defaults = dict(max_steps=steps, learning_rate=learning_rate, weight_decay=0.01,
                    per_device_train_batch_size=batch_size, per_device_eval_batch_size=128,
                    lr_scheduler_type="cosine", warmup_steps=max(steps // 20, 1), seed=seed,
                    eval_strategy="steps", eval_steps=eval_steps, save_strategy="steps", save_steps=eval_steps,
                    save_total_limit=2, load_best_model_at_end=True, metric_for_best_model="accuracy",
                    greater_is_better=True, save_only_model=True, label_names=["labels"], report_to="none",
                    logging_steps=max(eval_steps // 4, 1), dataloader_pin_memory=False)
    defaults.update(training_args)
    trainer = TrainableCheckpointTrainer(
        model=module, args=TrainingArguments(output_dir, **defaults), train_dataset=train, eval_dataset=validation,
        data_collator=data_collator or labelled_collator(tokenizer, validation), compute_metrics=_compute_accuracy,
        preprocess_logits_for_metrics=_argmax, callbacks=callbacks)
    trainer.train()
    return trainer


def _save_interface_model(net: InterfaceModel, output_dir: str, tokenizer, save_ckb: bool = False) -> None:
    """`interface/` (the interface, `InterfaceModel.from_pretrained`), `host/` (the host with its own function, a
    plain `from_pretrained` folder), `ckb/` if it trained, and the tokenizer."""
    net.save_pretrained(os.path.join(output_dir, "interface"))
    save_standalone(net, os.path.join(output_dir, "host"))
    if save_ckb:
        net.ckb.save_pretrained(os.path.join(output_dir, "ckb"))
    if tokenizer is not None:
        tokenizer.save_pretrained(output_dir)


# ------------------------------------------------------------------------------------------------ the procedures
def distill(student: nn.Module, teacher: nn.Module, tokenizer, train, validation, output_dir: str, steps: int = 600,
            learning_rate: float = 1e-3, batch_size: int = 32, temperature: float = 1.0, alpha: float = 0.0,
            eval_steps: int = 200, seed: int = 0, data_collator=None, callbacks=None, **training_args) -> nn.Module:
    """Knowledge distillation (Table B.5): trains `student` to reproduce `teacher`'s logits on the inputs of `train`
    (its labels are used only when `alpha > 0`), see [`DistillationModule`]. Every `eval_steps` the student's accuracy
    on the labelled `validation` set is measured; the best checkpoint is restored at the end.

    Teacher and student read the same token ids (one `tokenizer`). What trains is every student parameter that
    requires a gradient (set the flags first to train only part of it). Either network may be an `InterfaceModel`
    (run in 'interface' mode). `data_collator` defaults to `hf_ckb.data.labelled_collator` (which pads per-token
    labels for token classification); `callbacks` go to the Trainer;
    `training_args` override the `TrainingArguments` (e.g. `use_cpu=True`, `disable_tqdm=True`). Saves the student to
    `output_dir` (a plain network: `save_pretrained`; an `InterfaceModel`: `interface/` and `host/`) with the
    tokenizer. Returns the student, in eval mode.
    """
    torch.manual_seed(seed)
    module = DistillationModule(student, teacher, temperature, alpha)
    _run(module, tokenizer, train, validation, output_dir, steps, learning_rate, batch_size, eval_steps, seed,
         data_collator, callbacks, **training_args)
    student.eval()
    if isinstance(student, InterfaceModel):
        _save_interface_model(student, output_dir, tokenizer)
    elif hasattr(student, "save_pretrained"):
        student.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
    return student


def adapt_interface(ckb: CKBModel, target_host: nn.Module, source: nn.Module, tokenizer, train, validation,
                    output_dir: str, interface_config: InterfaceConfig | None = None, steps: int = 600,
                    learning_rate: float = 1e-3, batch_size: int = 32, temperature: float = 1.0,
                    eval_steps: int = 200, seed: int = 0, data_collator=None, callbacks=None,
                    **training_args) -> InterfaceModel:
    """Gives `target_host`, an architecture that was never imported (a fresh model, e.g.
    `hf_ckb.networks.CNNForSequenceClassification(config)`), an interface on the existing, frozen `ckb`.

    Why: the paper does not say how a never-imported architecture gets an interface for cross-architecture transfer
    (Table 3). Import cannot be used (there is no trained function to imitate) and training the CKB would change the
    knowledge being transferred. So the CKB is read, never written: `target_host` is wrapped with a new interface
    (`InterfaceModel(target_host, ckb, interface_config or InterfaceConfig())`) that, with the target's parameters
    outside its imitated function (embeddings, classifier head), learns by distillation ([`DistillationModule`]) to
    reproduce `source`'s predictions on the unlabelled inputs of `train`. `source` is typically the CKB-backed source
    network (an `InterfaceModel` whose interface was imported into the same `ckb`), run in 'interface' mode. Running
    the same procedure on a fresh (random) CKB is the control that measures what the CKB contributes.

    Recurrent targets (a GRU) are the weak spot: their new interface must learn *as a recurrent cell*, through time
    on its own states, and in the paper benchmark (Table 3, B.5) it did not learn at all in 300 steps (it predicted
    the majority class); imports never meet this, they train the cell teacher-forced. A warning says so.

    Trainable: the new interface and everything of the target that is neither under `.base_layer.` (the imitated
    function, unused in 'interface' mode) nor the CKB. The CKB is checked bit-identical afterwards (its
    `requires_grad` flags are restored). The returned `InterfaceModel` (best validation accuracy, eval mode) is
    what `hf_ckb.pipeline.export_network(returned, name, ...)` takes to export the interface into a fresh target
    network (it copies the embeddings and head from `returned.base_model`). Saves `interface/` and `host/` to
    `output_dir`.
    """
    if isinstance(target_host, InterfaceModel):
        raise TypeError("target_host must be a plain network: adapt_interface attaches the interface itself.")
    torch.manual_seed(seed)
    config = copy.deepcopy(interface_config) if interface_config is not None else InterfaceConfig()
    net = InterfaceModel(target_host, ckb, config)
    if any(isinstance(layer, RecurrentInterfaceLayer) for layer in net.interface_layers()):
        logger.warning("adapt_interface on a recurrent target: the new interface trains through time on its own "
                       "states, which did not learn in the paper benchmark (Table 3); check its accuracy.")
    ckb_before = {name: tensor.detach().clone() for name, tensor in ckb.state_dict().items()}
    flags = {name: param.requires_grad for name, param in ckb.named_parameters()}
    try:
        for name, param in net.named_parameters():
            param.requires_grad = ".interfaces." in name or not (name.startswith("ckb.") or ".base_layer." in name)
        module = DistillationModule(net, source, temperature, alpha=0.0)
        _run(module, tokenizer, train, validation, output_dir, steps, learning_rate, batch_size, eval_steps, seed,
             data_collator, callbacks, **training_args)
    finally:
        for name, param in ckb.named_parameters():
            param.requires_grad = flags[name]
    changed = [name for name, tensor in ckb.state_dict().items() if not torch.equal(tensor.cpu(),
                                                                                   ckb_before[name].cpu())]
    if changed:
        raise AssertionError(f"adapt_interface changed the frozen CKB ({changed}); it must only be read.")
    net.eval()
    _save_interface_model(net, output_dir, tokenizer)
    return net


def embedding_parameter_names(host: nn.Module, prefix: str = "") -> set[str]:
    """Names (with `prefix`) of `host`'s word and position embedding parameters: the input embeddings when the host
    declares them (`get_input_embeddings`), and every `nn.Embedding` named like one (`EMBEDDING_NAMES`)."""
    try:
        declared = host.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        declared = None
    names = set()
    for module_name, module in host.named_modules():
        named_like_one = isinstance(module, nn.Embedding) and module_name.rpartition(".")[2] in EMBEDDING_NAMES
        if module is declared or named_like_one:
            names.update(f"{prefix}{module_name}.{n}" if module_name else f"{prefix}{n}"
                         for n, _ in module.named_parameters())
    return names


def finetune_interface_model(net: InterfaceModel, tokenizer, train, validation, output_dir: str, steps: int = 600,
                             learning_rate: float = 1e-3, batch_size: int = 32, train_ckb: bool = True,
                             eval_steps: int = 200, seed: int = 0, data_collator=None, callbacks=None,
                             **training_args) -> InterfaceModel:
    """Table B.6's "CKB-based model": `net`'s host with its function (e.g. a MiniLM encoder) replaced by the
    interface, trained on the labels of `train` with the host's own loss through its head, in 'interface' mode.

    Trainable: the interface, the host's parameters outside the function except the word/position embeddings
    (kept as they were, as in the paper's transfer setting, see [`embedding_parameter_names`]), and the CKB when
    `train_ckb` (else it is left bit-identical; its `requires_grad` flags are restored afterwards either way, since
    other networks may share it). The imitated function itself is frozen (unused in 'interface' mode). Returns
    `net` with the best validation accuracy, in eval mode; saves `interface/`, `host/` (and `ckb/` when it trained)
    to `output_dir`.
    """
    if not isinstance(net, InterfaceModel):
        raise TypeError(f"net must be an InterfaceModel, got {type(net).__name__}.")
    torch.manual_seed(seed)
    embeddings = embedding_parameter_names(net.base_model, prefix="base_model.")
    flags = {name: param.requires_grad for name, param in net.ckb.named_parameters()}
    try:
        for name, param in net.named_parameters():
            if name.startswith("ckb."):
                param.requires_grad = train_ckb
            else:
                param.requires_grad = ".interfaces." in name or (".base_layer." not in name and name not in embeddings)
        _run(InterfaceTaskModule(net), tokenizer, train, validation, output_dir, steps, learning_rate, batch_size,
             eval_steps, seed, data_collator, callbacks, **training_args)
    finally:
        for name, param in net.ckb.named_parameters():
            param.requires_grad = flags[name]
    net.eval()
    _save_interface_model(net, output_dir, tokenizer, save_ckb=train_ckb)
    return net
