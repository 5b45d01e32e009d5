"""Artifacts of the transfer tables (3, B.5, B.6): a never-imported architecture reading a CKB, plain knowledge
distillation, and the CKB-based classifier of B.6. Built and cached through `Workspace.artifact`."""

import os

import torch

from hf_ckb import CKBConfig, CKBModel, InterfaceConfig, InterfaceModel
from hf_ckb.bundle import Bundle
from hf_ckb.layout import checkpoints_dir
from hf_ckb.pipeline import evaluate_export, export_network, model_accuracy
from hf_ckb.training import (CKBTrainer, CKBTrainingModule, adapt_interface, ckb_training_args, distill,
                             evaluate_network, finetune_interface_model)

from .workspace import Workspace, load_import


def interface_accuracy(ws: Workspace, net: InterfaceModel, arch: str) -> float:
    """Test accuracy of `net` with its function replaced by the interface (the CKB-backed network)."""
    with net.mode("interface"):
        return model_accuracy(net, *ws.test_split(arch))


def adapted(ws: Workspace, source: str, target: str, seed: int, random_ckb: bool = False):
    """`(InterfaceModel, metrics)`: a fresh `target` given an interface on the *frozen* CKB of `source` imported alone
    (Table 1's import), trained by distillation from the CKB-backed source's predictions on unlabelled training
    inputs (`hf_ckb.training.adapt_interface`). With `random_ckb` the same procedure reads a freshly initialised CKB
    instead: what the imported knowledge adds. Metrics: the CKB-backed target's test accuracy (`adapted`)."""
    def build(path):
        module, _ = ws.imported((source,), seed)
        torch.manual_seed(seed)
        ckb = CKBModel(CKBConfig(**ws.scale.small_ckb)) if random_ckb else module.ckb
        tokenizer, data = ws.data(target)
        steps = ws.scale.import_steps // 2
        net = adapt_interface(ckb, ws.fresh(target, seed), module.networks[source], tokenizer, data["train"],
                              data["validation"], path, interface_config=ws.interface_config(target), steps=steps,
                              learning_rate=1e-3, batch_size=ws.scale.batch_size,
                              eval_steps=min(ws.scale.eval_steps, steps), seed=seed, name=target)
        return net, {"adapted": interface_accuracy(ws, net, target)}

    kind = "-randomckb" if random_ckb else ""
    return ws.artifact(ws.design_key(f"adapted/{source}-to-{target}{kind}-s{seed}"), build,
                       lambda path: Bundle.from_pretrained(path).interfaces[target])


def transferred(ws: Workspace, source: str, target: str, seed: int, random_ckb: bool = False) -> dict:
    """Table 3 / B.5: the `adapted` target (see there), then exported into a fresh `target` network. Metrics: the
    CKB-backed target (`adapted`) and the exported one (`accuracy`, fidelity) on the test split."""
    def build(path):
        net, metrics = adapted(ws, source, target, seed, random_ckb)
        tokenizer, data = ws.data(target)
        steps = ws.scale.export_steps // 2
        exported = export_network(net, target, tokenizer, data["train"], data["validation"], path, steps=steps,
                                  learning_rate=1e-3, batch_size=ws.scale.batch_size,
                                  eval_steps=min(ws.scale.eval_steps, steps), seed=seed)
        return None, {**metrics, **evaluate_export(net, exported, target, tokenizer, data["test"])}

    kind = "-randomckb" if random_ckb else ""
    return ws.artifact(ws.design_key(f"transfers/{source}-to-{target}{kind}-s{seed}"), build)[1]


def distilled(ws: Workspace, student: str, teacher: str, seed: int) -> float:
    """B.5's standard KD: a fresh `student` trained on the teacher's logits for as many steps as its label-trained
    twin's fine-tuning."""
    def build(path):
        tokenizer, data = ws.data(student)
        steps = int(ws.scale.finetune_epochs * len(data["train"]) / ws.scale.batch_size)
        model = distill(ws.fresh(student, seed), ws.teacher(teacher, seed)[0], tokenizer, data["train"],
                        data["validation"], path, steps=steps, learning_rate=1e-3, batch_size=ws.scale.batch_size,
                        eval_steps=min(ws.scale.eval_steps, steps), seed=seed)
        return None, {"accuracy": model_accuracy(model, tokenizer, data["test"]), "steps": steps}

    return ws.artifact(f"kd/{teacher}-to-{student}-s{seed}", build)[1]["accuracy"]


def encoder_interface_model(ws: Workspace, seed: int) -> InterfaceModel:
    """B.6's starting point: the pretrained MiniLM with a fresh global interface on its encoder over a fresh CKB."""
    torch.manual_seed(seed)
    config = InterfaceConfig(target_module="bert.encoder", function_kind="sequence", design=ws.design)
    return InterfaceModel(ws.fresh("minilm", seed), CKBModel(CKBConfig(**ws.scale.big_ckb)), config)


def imported_unlabelled(ws: Workspace, seed: int):
    """B.6: the *pretrained* (not fine-tuned) MiniLM encoder imported into a CKB through one global interface, on
    the training inputs only (no labels: no accuracy to select on, so the last step is kept)."""
    def build(path):
        tokenizer, data = ws.data("minilm")
        net = encoder_interface_model(ws, seed)
        module = CKBTrainingModule(net.ckb, {"minilm": net}, "import")
        args = ckb_training_args(checkpoints_dir(path, "import"), "import", max_steps=ws.scale.big_steps,
                                 learning_rate=1e-3, per_device_train_batch_size=ws.scale.batch_size,
                                 lr_scheduler_type="cosine",
                                 warmup_steps=max(ws.scale.big_steps // 20, 1), seed=seed, logging_steps=50)
        unlabelled = {"minilm": data["train"].remove_columns("label")}
        CKBTrainer(module, args, train_datasets=unlabelled, tokenizers={"minilm": tokenizer}).train()
        Bundle(net.ckb, interfaces={"minilm": net}, tokenizers={"minilm": tokenizer}).save_pretrained(path)
        return module, evaluate_network(module, "minilm", data["test"].remove_columns("label"),
                                        ws.collator("minilm"), 128)

    return ws.artifact(ws.design_key(f"imports/minilm-pretrained-unlabelled-s{seed}"), build,
                       load_import)


def ckb_based(ws: Workspace, seed: int, imported: bool) -> float:
    """B.6's CKB-based classifier: MiniLM's embeddings, then the interface over the CKB in place of the encoder,
    then a fresh classifier, fine-tuned on labels (interface, CKB, pooler and head train). `imported`: the CKB and
    interface come from `imported_unlabelled`; else both are freshly initialised (same steps and learning rate)."""
    def build(path):
        tokenizer, data = ws.data("minilm")
        if imported:
            net = imported_unlabelled(ws, seed)[0].networks["minilm"]
        else:
            net = encoder_interface_model(ws, seed)
        net = finetune_interface_model(net, tokenizer, data["train"], data["validation"], path,
                                       steps=ws.scale.big_steps, learning_rate=5e-4, batch_size=ws.scale.batch_size,
                                       train_ckb=True, eval_steps=min(ws.scale.eval_steps, ws.scale.big_steps),
                                       seed=seed)
        return None, {"accuracy": interface_accuracy(ws, net, "minilm")}

    kind = "imported" if imported else "random"
    return ws.artifact(ws.design_key(f"ckb-based/{kind}-s{seed}"), build)[1]["accuracy"]
