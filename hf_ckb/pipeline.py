"""The steps a user runs, as functions shared by the CLI and the quickstart: fine-tune a network, import networks
into one CKB, export an interface into a fresh network, and score networks and their ensemble."""

import os

import torch
from torch.utils.data import DataLoader
from transformers import Trainer, TrainingArguments

from .ckb import CKBConfig, CKBModel
from .data.loading import labelled_collator, labelled_predictions, pad_and_concat
from .interface import InterfaceConfig, InterfaceModel
from .training import CKBTrainer, CKBTrainingModule, ckb_training_args, prepare_export
from .training.trainer import accuracy


def finetune(model, tokenizer, train, validation, output_dir: str, epochs: float = 2, learning_rate: float = 1e-3,
             batch_size: int = 32, seed: int = 0):
    """Trains `model` on labelled `train` with the stock `Trainer` (best validation epoch kept) and saves it with
    its tokenizer to `output_dir`. Returns the model in eval mode."""
    args = TrainingArguments(output_dir, num_train_epochs=epochs, learning_rate=learning_rate, weight_decay=0.01,
                             per_device_train_batch_size=batch_size, per_device_eval_batch_size=128,
                             eval_strategy="epoch", save_strategy="epoch", save_total_limit=1,
                             load_best_model_at_end=True, metric_for_best_model="accuracy", report_to="none",
                             seed=seed, logging_steps=100, save_only_model=True,
                             dataloader_pin_memory=False)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=validation,
                      data_collator=labelled_collator(tokenizer, train), processing_class=tokenizer,
                      compute_metrics=lambda p: {"accuracy": accuracy(*labelled_predictions(p.predictions,
                                                                                            p.label_ids))})
    trainer.train()
    trainer.save_model(output_dir)
    return model.eval()


def import_networks(hosts: dict, tokenizers: dict, train_sets: dict, eval_sets: dict, output_dir: str,
                    ckb: CKBModel | None = None, interface_configs: dict | None = None, steps: int = 600,
                    learning_rate: float = 1e-3, batch_size: int = 32, loss: str = "nmse", eval_steps: int = 200,
                    seed: int = 0, resume: bool = False, teacher_cache_bytes: int | None = None) -> CKBTrainingModule:
    """Jointly imports `hosts` (name -> model) into one CKB (Eq. 16-18), each on its own unlabelled `train_sets`
    inputs, keeping the checkpoint with the best min validation accuracy (Eq. A.1). Saves `ckb/` and
    `interfaces/<name>/` to `output_dir`. The frozen hosts' outputs are cached after the first epoch when the
    training sets fit in `teacher_cache_bytes` (default 1 GiB; 0 disables), see `hf_ckb.training.cache`."""
    torch.manual_seed(seed)
    ckb = ckb or CKBModel(CKBConfig())
    configs = interface_configs or {}
    nets = {name: InterfaceModel(host.eval(), ckb, configs.get(name) or InterfaceConfig()) for name, host in hosts.items()}
    module = CKBTrainingModule(ckb, nets, "import", loss=loss)
    cache = {} if teacher_cache_bytes is None else {"teacher_cache_bytes": teacher_cache_bytes}
    _train(module, tokenizers, train_sets, eval_sets, output_dir, "import", steps, learning_rate, batch_size,
           eval_steps, seed, resume, **cache)
    return module


def export_network(source: InterfaceModel, name: str, tokenizer, train, validation, output_dir: str,
                   target=None, steps: int = 600, learning_rate: float = 1e-3, batch_size: int = 32,
                   loss: str = "nmse", eval_steps: int = 200, seed: int = 0, resume: bool = False):
    """Exports the interface of `source` into `target` (default: a fresh network of the source's architecture,
    embeddings and head copied), keeping the checkpoint with the best validation accuracy. Saves the standalone
    network to `output_dir/networks/<name>/` and returns the export module."""
    torch.manual_seed(seed)
    module = CKBTrainingModule(source.ckb, {name: prepare_export(source, target)}, "export", loss=loss)
    _train(module, {name: tokenizer}, {name: train}, {name: validation}, output_dir, "export", steps,
           learning_rate, batch_size, eval_steps, seed, resume)
    return module


def _train(module, tokenizers, train_sets, eval_sets, output_dir, mode, steps, learning_rate, batch_size,
           eval_steps, seed, resume, **extra_args):
    args = ckb_training_args(output_dir, mode, max_steps=steps, learning_rate=learning_rate,
                             per_device_train_batch_size=batch_size, per_device_eval_batch_size=128,
                             lr_scheduler_type="cosine", warmup_steps=max(steps // 20, 1), seed=seed,
                             eval_strategy="steps", eval_steps=eval_steps, save_strategy="steps",
                             save_steps=eval_steps, save_total_limit=2, load_best_model_at_end=True,
                             logging_steps=max(eval_steps // 4, 1), **extra_args)
    trainer = CKBTrainer(module, args, train_datasets=train_sets, eval_datasets=eval_sets, tokenizers=tokenizers)
    trainer.train(resume_from_checkpoint=resume or None)
    trainer.save_model(output_dir)
    return trainer


@torch.no_grad()
def predict_logits(model, tokenizer, dataset, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """`(logits, labels)` of `model` over a tokenized labelled dataset, in dataset order. Per-token logits and labels
    are padded to the longest sequence (labels with -100): score them with `hf_ckb.data.labelled_predictions`."""
    logits, labels = [], []
    model.eval()
    device = next(model.parameters()).device
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=labelled_collator(tokenizer, dataset)):
        out = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
        logits.append(out.logits.cpu())
        labels.append(batch["labels"])
    return pad_and_concat(logits), pad_and_concat(labels)


def ensemble_accuracy(members: list[tuple]) -> float:
    """Accuracy of the logit-averaging ensemble of `(model, tokenizer, dataset)` members on the same examples."""
    outputs = [predict_logits(*member) for member in members]
    labels = outputs[0][1]
    if any(not torch.equal(labels, other) for _, other in outputs[1:]):
        raise ValueError("Ensemble members must be scored on the same examples in the same order.")
    mean_logits = torch.stack([logits for logits, _ in outputs]).mean(0)
    return accuracy(mean_logits.argmax(-1), labels)


def save_json(path: str, data: dict) -> None:
    import json

    from .utils import atomic_file

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=2)
