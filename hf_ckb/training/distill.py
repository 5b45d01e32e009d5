"""Standard knowledge distillation (Hinton et al. 2015) of a teacher's logits into a student, on the teacher's
inputs only (Table B.5, and the multi-teacher baseline of the knowledge benchmark)."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from ..interface import InterfaceModel
from .stock_loop import interface_name, save_interface_run, train_stock


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


class TeacherEnsemble(nn.Module):
    """Several frozen teachers as one: `forward(input_ids, attention_mask)` returns `{"logits"}`, the mean of the
    teachers' logits. Distilling it is multi-teacher distillation as TextBrewer's `MultiTeacherDistiller` does it
    (the targets are the averaged teacher logits); the teachers must read the same token ids and predict the same
    classes. Each teacher that is an `InterfaceModel` runs in 'interface' mode."""

    def __init__(self, teachers: list[nn.Module]):
        super().__init__()
        if len(teachers) < 2:
            raise ValueError(f"A teacher ensemble needs at least 2 teachers, got {len(teachers)}.")
        self.teachers = nn.ModuleList(teachers)

    def forward(self, input_ids, attention_mask=None) -> dict[str, torch.Tensor]:
        logits = [_logits(t, input_ids, attention_mask) for t in self.teachers]
        shapes = {tuple(x.shape) for x in logits}
        if len(shapes) > 1:
            raise ValueError(f"The teachers' logits differ in shape ({sorted(shapes)}): they must predict the same "
                             "classes on the same inputs.")
        return {"logits": torch.stack([x.float() for x in logits]).mean(0)}


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


def distill(student: nn.Module, teacher: nn.Module | list[nn.Module], tokenizer, train, validation, output_dir: str,
            steps: int = 600, learning_rate: float = 1e-3, batch_size: int = 32, temperature: float = 1.0,
            alpha: float = 0.0, eval_steps: int = 200, seed: int = 0, data_collator=None, callbacks=None,
            name: str | None = None, **training_args) -> nn.Module:
    """Knowledge distillation (Table B.5): trains `student` to reproduce `teacher`'s logits on the inputs of `train`
    (its labels are used only when `alpha > 0`), see [`DistillationModule`]. `teacher` may be a list of networks:
    multi-teacher distillation on the mean of their logits ([`TeacherEnsemble`]). Every `eval_steps` the student's
    accuracy on the labelled `validation` set is measured; the best checkpoint is restored at the end.

    Teacher and student read the same token ids (one `tokenizer`). What trains is every student parameter that
    requires a gradient (set the flags first to train only part of it). Either network may be an `InterfaceModel`
    (run in 'interface' mode). `data_collator` defaults to `hf_ckb.data.labelled_collator` (which pads per-token
    labels for token classification); `callbacks` go to the Trainer;
    `training_args` override the `TrainingArguments` (e.g. `use_cpu=True`, `disable_tqdm=True`). Saves the student
    with the tokenizer to `output_dir`: a plain network as a `save_pretrained` folder; an `InterfaceModel` as a
    bundle (`interfaces/<name>/`, `hosts/<name>/`, its CKB; `name` defaults to the host's `model_type`).
    Checkpoints go to `output_dir/checkpoints/distill/`. Returns the student, in eval mode.
    """
    torch.manual_seed(seed)
    if isinstance(teacher, (list, tuple)):
        teacher = TeacherEnsemble(list(teacher))
    module = DistillationModule(student, teacher, temperature, alpha)
    train_stock(module, tokenizer, train, validation, output_dir, "distill", steps, learning_rate, batch_size,
                eval_steps, seed, data_collator, callbacks, **training_args)
    student.eval()
    if isinstance(student, InterfaceModel):
        save_interface_run(student, interface_name(student, name), output_dir, tokenizer)
    elif hasattr(student, "save_pretrained"):
        student.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
    return student


