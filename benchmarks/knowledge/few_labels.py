"""Reuse with few labels: can a network that arrives later learn its task through the frozen imported store from a
tenth of the labels, better than through a random store and better than alone?

Why this protocol beside `transfer` (distillation from the CKB-backed source on every training input): there the
teacher's predictions on all inputs already carry everything the source knows, so a newcomer learns as well through
a random store as through the imported one, whatever the store holds. With few labels and no teacher, the store is
the only way the source's knowledge reaches the newcomer, which is what "the store carries knowledge" means for a
user (issue 12's later students).

Arms, per transfer `source -> target` and seed, all with the target's word embeddings copied from the source's host
(one tokenizer; `hf_ckb.knowledge.copy_input_embeddings`) and frozen, the same labelled tenth of the training split
(drawn per seed), steps and learning rate; checkpoints selected on the labelled validation split:

- `alone`: the target network itself (its own function, e.g. the CNN's convolutions) trained on the labels;
- `imported`: the target's function replaced by an interface on the frozen imported store
  (`finetune_interface_model(train_ckb=False)`), its query warm-started from the source interface's query of the
  same tokens (`hf_ckb.knowledge.warm_start_reader`);
- `random`: the same procedure on a random store of the same shape (the control that could refute the claim);
- `imported_fresh_reader`: the imported store read through a freshly initialised query (does the anchor matter?);
- `imported_frozen_reader`, `random_frozen_reader`: the anchored query kept as it starts (only the output map and the
  host's own parts train): the stores read exactly where the source's query of the same tokens falls.
"""

import torch

from hf_ckb import CKBConfig, CKBModel, InterfaceModel
from hf_ckb.knowledge import copy_input_embeddings, warm_start_reader
from hf_ckb.pipeline import model_accuracy
from hf_ckb.training import finetune_interface_model
from hf_ckb.training.interface_classifier import embedding_parameter_names
from hf_ckb.training.stock_loop import train_stock

from ..paper.transfer import interface_accuracy
from ..paper.workspace import Workspace

TRANSFERS = (("rnn", "cnn"), ("cnn", "rnn"), ("rnn", "ann"))
ARMS = ("alone", "imported", "random", "imported_fresh_reader", "imported_frozen_reader", "random_frozen_reader")
LABEL_FRACTION = 0.1


def few_labels(ws: Workspace, seed: int):
    """The labelled tenth of the training split this seed trains on (the same for every arm and network)."""
    train = ws.data("rnn")[1]["train"]  # every small network reads the one BPE tokenizer's splits
    return train.shuffle(seed=seed).select(range(max(1, round(LABEL_FRACTION * len(train)))))


def newcomer(ws: Workspace, source: str, target: str, seed: int):
    """A fresh `target` network with the source host's word embeddings."""
    net = ws.fresh(target, seed)
    copy_input_embeddings(net, ws.teacher(source, seed)[0])
    return net


def recipe(ws: Workspace, seed: int) -> dict:
    """Steps, learning rate, batch size, evaluation cadence and seed of every few-label run: half the scale's import
    steps, as the distillation reuse (`benchmarks.paper.transfer.adapted`)."""
    steps = ws.scale.import_steps // 2
    return dict(steps=steps, learning_rate=1e-3, batch_size=ws.scale.batch_size,
                eval_steps=min(ws.scale.eval_steps, steps), seed=seed)


def store(ws: Workspace, imported: CKBModel, random: bool, seed: int) -> CKBModel:
    """The imported store, or (`random`) a freshly initialised one of the scale's shape, after seeding torch."""
    torch.manual_seed(seed)
    return CKBModel(CKBConfig(**ws.scale.small_ckb)) if random else imported


def train_alone(ws: Workspace, host, target: str, seed: int, path: str) -> dict:
    """`host`, a plain network, trained on the seed's labels (its `requires_grad` flags as set); test accuracy."""
    tokenizer, data = ws.data(target)
    train_stock(host, tokenizer, few_labels(ws, seed), data["validation"], path, "finetune", **recipe(ws, seed))
    return {"accuracy": model_accuracy(host.eval(), tokenizer, data["test"])}


def train_through_store(ws: Workspace, net: InterfaceModel, target: str, seed: int, path: str, **options) -> dict:
    """`net` trained on the seed's labels through its frozen store (`finetune_interface_model`, `options` passed on);
    the CKB-backed network's test accuracy."""
    tokenizer, data = ws.data(target)
    net = finetune_interface_model(net, tokenizer, few_labels(ws, seed), data["validation"], path, train_ckb=False,
                                   name=target, **options, **recipe(ws, seed))
    return {"accuracy": interface_accuracy(ws, net, target)}


def run_arm(ws: Workspace, source: str, target: str, seed: int, arm: str) -> float:
    """Test accuracy (%) of one arm (see the module docstring); a `Workspace` artifact, built once."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}.")

    def build(path):
        host = newcomer(ws, source, target, seed)
        if arm == "alone":
            embeddings = embedding_parameter_names(host)
            for name, param in host.named_parameters():
                param.requires_grad = name not in embeddings
            return None, train_alone(ws, host, target, seed, path)
        source_net = ws.imported((source,), seed)[0].networks[source]
        net = InterfaceModel(host, store(ws, source_net.ckb, arm.startswith("random"), seed),
                             ws.interface_config(target))
        if arm != "imported_fresh_reader":
            warm_start_reader(net, source_net)
        query = {n for n, _ in net.named_parameters() if ".interfaces." in n and ".query." in n}
        return None, train_through_store(ws, net, target, seed, path, frozen=query if "frozen" in arm else set())

    key = f"few-labels/{source}-to-{target}-{arm}-s{seed}"
    key = key if arm == "alone" else ws.design_key(key)  # `alone` reads no store: shared by the designs
    return round(100 * ws.artifact(key, build)[1]["accuracy"], 2)


def few_labels_section(ws: Workspace) -> dict:
    """Every arm of every transfer, one value per seed (paired), and the number of labels. The paper's design has no
    query map to anchor (its interfaces project the CKB through keys of their own): skipped, saying so."""
    if ws.design == "paper":
        return {"skipped": "the paper design's interface has no query map to warm-start"}
    rows = {f"{s}->{t}": {arm: [run_arm(ws, s, t, x, arm) for x in ws.scale.seeds] for arm in ARMS}
            for s, t in TRANSFERS}
    return {**rows, "labels": len(few_labels(ws, 0))}
