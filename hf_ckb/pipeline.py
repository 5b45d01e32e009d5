"""The steps a user runs, as functions shared by the CLI and the quickstart: fine-tune a network, import networks
into one CKB, export an interface into a fresh network, and score networks and their ensemble.

Import and export write a bundle (`hf_ckb.bundle`) to their `output_dir`, with the Trainer's checkpoints in
`output_dir/checkpoints/<run>/` (`resume=True` continues from the last one)."""

import copy
import os
import time

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import Trainer

from .bundle import Bundle, update_results
from .ckb import CKBConfig, CKBModel
from .data.loading import labelled_collator, labelled_predictions, pad_and_concat
from .interface import InterfaceConfig, InterfaceModel
from .interface.standalone import export_lookup, is_lookup, standalone_network
from .layout import checkpoints_dir, is_bundle
from .lineage import append_step, changed_rows, ckb_snapshot
from .training import CKBTrainer, CKBTrainingModule, ckb_training_args, evaluate_network, prepare_export
from .training.arguments import run_arguments, run_cadence
from .training.memory_bank import initialise_networks
from .training.trainer import accuracy


def finetune(model, tokenizer, train, validation, output_dir: str, epochs: float = 2, learning_rate: float = 1e-3,
             batch_size: int = 32, seed: int = 0):
    """Trains `model` on labelled `train` with the stock `Trainer` (best validation epoch kept) and saves it with
    its tokenizer to `output_dir` (a plain `from_pretrained` folder; checkpoints in `output_dir/checkpoints/`).
    Returns the model in eval mode."""
    args = run_arguments(checkpoints_dir(output_dir, "finetune"), epochs=epochs, learning_rate=learning_rate,
                         batch_size=batch_size, seed=seed, save_total_limit=1, save_only_model=True)
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
                    seed: int = 0, resume: bool = False, teacher_cache_bytes: int | None = None,
                    memory_bank: bool = False) -> CKBTrainingModule:
    """Jointly imports `hosts` (name -> model) into one CKB (Eq. 16-18), each on its own unlabelled `train_sets`
    inputs, keeping the checkpoint with the best min validation accuracy (Eq. A.1). Writes the bundle `output_dir`
    (the CKB, `interfaces/<name>/`, `hosts/<name>/` with each tokenizer). Returns the training module, whose
    `networks[name]` is each host with its interface. The frozen hosts' outputs are cached after the first epoch
    when the training sets fit in `teacher_cache_bytes` (default 1 GiB; 0 disables), see `hf_ckb.training.cache`.
    `memory_bank`: before training, each network's share of the CKB rows starts as prototypes of its host's function
    (`hf_ckb.training.memory_bank`; the `memory` design only)."""
    torch.manual_seed(seed)
    ckb = ckb or CKBModel(CKBConfig())
    configs = interface_configs or {}
    nets = {name: InterfaceModel(host.eval(), ckb, configs.get(name) or InterfaceConfig())
            for name, host in hosts.items()}
    module = CKBTrainingModule(ckb, nets, "import", loss=loss)
    cache = {} if teacher_cache_bytes is None else {"teacher_cache_bytes": teacher_cache_bytes}
    before, fingerprint, start = ckb_snapshot(ckb), ckb.fingerprint(), time.time()
    if memory_bank and not resume:  # a resumed run loads its trained rows from the checkpoint
        initialise_networks(nets, ckb, tokenizers, train_sets, seed=seed)
    _train(module, tokenizers, train_sets, eval_sets, checkpoints_dir(output_dir, "import"), "import", steps,
           learning_rate, batch_size, eval_steps, seed, resume, **cache)
    Bundle(ckb, interfaces=dict(module.networks), tokenizers=tokenizers).save_pretrained(output_dir)
    append_step(output_dir, {"networks": sorted(hosts), "method": "joint", "ckb_before": fingerprint,
                             "ckb_after": ckb.fingerprint(), "changed_rows": changed_rows(before, ckb),
                             "seconds": round(time.time() - start, 1),
                             **({"memory_bank": True} if memory_bank else {})})
    update_results(output_dir, {})  # the card, now with the step
    return module


def export_network(source: InterfaceModel, name: str, tokenizer, train, validation, output_dir: str,
                   target=None, steps: int = 600, learning_rate: float = 1e-3, batch_size: int = 32,
                   loss: str = "nmse", eval_steps: int = 200, seed: int = 0, resume: bool = False) -> nn.Module:
    """Exports the interface of `source` into `target` (default: a fresh network of the source's architecture,
    embeddings and head copied), keeping the checkpoint with the best validation accuracy. Returns the exported
    standalone network (PEFT's `merge_and_unload` role: a plain model, no interface, eval mode).

    A `lookup` interface (a store of word embeddings) into a fresh network is exported exactly, with no training
    (`export_lookup`: the embedding table is the interface read for every token id).

    Writes `exported/<name>/` (with the tokenizer) into the bundle `output_dir`; a folder that is not a bundle yet
    becomes one (the source's CKB, interface and host are written too)."""
    if target is None and is_lookup(source):
        exported = export_lookup(source)
    else:
        torch.manual_seed(seed)
        module = CKBTrainingModule(source.ckb, {name: prepare_export(source, target)}, "export", loss=loss)
        _train(module, {name: tokenizer}, {name: train}, {name: validation},
               checkpoints_dir(output_dir, f"export-{name}"), "export", steps, learning_rate, batch_size, eval_steps,
               seed, resume)
        exported = standalone_network(module.networks[name])
    interfaces = {} if is_bundle(output_dir) else {name: source}
    Bundle(source.ckb, interfaces=interfaces, exported={name: exported},
           tokenizers={name: tokenizer}).save_pretrained(output_dir)
    return exported


def evaluate_export(source: InterfaceModel, exported: nn.Module, name: str, tokenizer, dataset) -> dict[str, float]:
    """The exported network's accuracy on a labelled `dataset` and the fidelity of its function to the interface of
    `source` it learned from (cosine, rel. L2). `exported` is not changed (a copy is wrapped)."""
    target = prepare_export(source, copy.deepcopy(exported))
    module = CKBTrainingModule(source.ckb, {name: target}, "export")
    return evaluate_network(module, name, dataset, labelled_collator(tokenizer, dataset), 128)


def _train(module, tokenizers, train_sets, eval_sets, output_dir, mode, steps, learning_rate, batch_size,
           eval_steps, seed, resume, **extra_args):
    args = ckb_training_args(output_dir, mode, learning_rate=learning_rate, per_device_train_batch_size=batch_size,
                             seed=seed, **run_cadence(steps=steps, eval_steps=eval_steps), **extra_args)
    trainer = CKBTrainer(module, args, train_datasets=train_sets, eval_datasets=eval_sets, tokenizers=tokenizers)
    trainer.train(resume_from_checkpoint=resume or None)
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


def model_accuracy(model, tokenizer, dataset, batch_size: int = 128) -> float:
    """Accuracy of a plain classifier (or an `InterfaceModel` in its current mode) on a tokenized labelled
    dataset, on the model's device; per-token labels are scored at their labelled positions."""
    return accuracy(*labelled_predictions(*predict_logits(model, tokenizer, dataset, batch_size)))


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
