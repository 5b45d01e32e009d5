"""The store of word embeddings: each network's embedding table imported through a `lookup` interface (token id ->
row, read from a fixed code of the id), then knocked out, and reused by a newcomer trained on a tenth of the labels.

Why: the few-label screen (`few_labels.py`) found that a newcomer given the source host's word embeddings learns
almost as well as the host, while no interface over the store of the host's *function* helped it. The embeddings are
where a small network's transferable knowledge sits, and a lookup of one tokenizer is a function every network has,
so the newcomer can take the source's interface whole (`hf_ckb.knowledge.adopt_interface`, kept frozen): what it reads
is then exactly what the store holds for each token.

Runs (each network's own host function untouched; the embeddings imitated):
- knockout: RNN, CNN, ANN each imported alone (seed 0): CKB-backed test accuracy with the store as imported, zeroed,
  random (same std), the interface unchanged;
- reuse, per transfer and seed, a fresh target trained on the same labelled tenth (`few_labels.few_labels`), same
  steps: `scratch` (its own embeddings, trained), `host_embeddings` (the source host's embeddings copied, frozen:
  the peer a user would reach for, no store), `imported` (the source's lookup interface adopted, frozen, over the
  frozen imported store), `random` (the same over a random store of the same shape: the control), and `distilled`
  (no store, no labels: the fresh target distilled from the source *host* on every training input, the peer a user
  would pick when the bundle's hosts are present; issue 12's arm (d)).
"""

import torch

from hf_ckb import CKBConfig, CKBModel, InterfaceConfig, InterfaceModel
from hf_ckb.interface.targets import embeddings_target
from hf_ckb.knowledge import adopt_interface, knockout
from hf_ckb.pipeline import import_networks, model_accuracy
from hf_ckb.training import distill, evaluate_network

from ..paper.tables.t4 import ckb_parameters, size_tag
from ..paper.workspace import Workspace, load_import
from .common import RANDOM_SEED, majority, percent, teacher
from .few_labels import TRANSFERS, few_labels, recipe, run_arm, store, train_alone, train_through_store

NETWORKS = ("rnn", "cnn", "ann")
ARMS = ("scratch", "host_embeddings", "imported", "random", "distilled")


def lookup_config(ws: Workspace, host) -> InterfaceConfig:
    """A `lookup` interface of the workspace's design on `host`'s word embeddings."""
    return InterfaceConfig(design=ws.design, target_module=embeddings_target(host), function_kind="lookup")


def lookup_import(ws: Workspace, arch: str, seed: int, sizes: dict | None = None):
    """`(CKBTrainingModule, metrics)`: the `arch` teacher's word embeddings imported alone into a fresh store of
    `sizes` (default: the scale's CKB), the scale's import recipe; metrics: fidelity and CKB-backed accuracy, and
    the knockout's accuracies."""
    def build(path):
        torch.manual_seed(seed)
        tokenizer, data = ws.data(arch)
        steps, host = ws.scale.import_steps, ws.teacher(arch, seed)[0]
        module = import_networks({arch: host}, {arch: tokenizer}, {arch: data["train"]},
                                 {arch: data["validation"]}, path,
                                 ckb=CKBModel(CKBConfig(**(sizes or ws.scale.small_ckb))),
                                 interface_configs={arch: lookup_config(ws, host)}, steps=steps, learning_rate=1e-3,
                                 batch_size=ws.scale.batch_size, eval_steps=min(ws.scale.eval_steps, steps), seed=seed)
        scores = knockout(module, arch, data["test"], ws.collator(arch), seed=RANDOM_SEED, batch_size=128)
        return module, {**evaluate_network(module, arch, data["test"], ws.collator(arch), 128),
                        "knockout": {kind: s["accuracy"] for kind, s in scores.items()}}

    key = ws.design_key(f"lookup/imports/{arch}{size_tag(sizes, ws.scale.small_ckb)}-s{seed}")
    return ws.artifact(key, build, load_import)


def reuse_arm(ws: Workspace, source: str, target: str, seed: int, arm: str, sizes: dict | None = None) -> float:
    """Test accuracy (%) of one reuse arm (see the module docstring); a `Workspace` artifact. `sizes`: the imported
    store's size (the `imported` arm only; default: the scale's CKB)."""
    if arm == "host_embeddings":  # the few-label section's `alone`: the same run, shared
        return run_arm(ws, source, target, seed, "alone")
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}.")

    def build(path):
        if arm == "scratch":
            return None, train_alone(ws, ws.fresh(target, seed), target, seed, path)
        if arm == "distilled":
            return None, distilled(ws, source, target, seed, path)
        source_net = lookup_import(ws, source, seed, sizes)[0].networks[source]
        ckb = store(ws, source_net.ckb, arm == "random", seed)
        host = ws.fresh(target, seed)
        net = InterfaceModel(host, ckb, lookup_config(ws, host))
        adopt_interface(net, source_net)
        return None, train_through_store(ws, net, target, seed, path, train_interface=False)

    if sizes is not None and arm != "imported":
        raise ValueError(f"Only the imported arm reads a store of another size, not {arm!r}.")
    key = f"lookup/few-labels/{source}-to-{target}-{arm}{size_tag(sizes, ws.scale.small_ckb)}-s{seed}"
    key = ws.design_key(key) if arm in ("imported", "random") else key  # the others read no store: shared
    return round(100 * ws.artifact(key, build)[1]["accuracy"], 2)


def distilled(ws: Workspace, source: str, target: str, seed: int, path: str) -> dict:
    """A fresh `target` distilled from the `source` teacher's logits on every training input (no labels), with the
    few-label runs' steps; its test accuracy."""
    tokenizer, data = ws.data(target)
    student = distill(ws.fresh(target, seed), ws.teacher(source, seed)[0], tokenizer, ws.train_inputs(target),
                      data["validation"], path, **recipe(ws, seed))
    return {"accuracy": model_accuracy(student, tokenizer, data["test"])}


def lookup_section(ws: Workspace) -> dict:
    """The knockout of each network's store of embeddings (seed 0), and every reuse arm of every transfer (one value
    per seed, paired). The paper's design is not run: its interface reads its own input rows around the store."""
    if ws.design == "paper":
        return {"skipped": "the paper design's interface has a private path around the store"}
    knock = {}
    for arch in NETWORKS:
        metrics = lookup_import(ws, arch, 0)[1]
        knock[arch] = {"teacher": teacher(ws, arch, 0), "ckb_backed": percent(metrics["knockout"]["imported"]),
                       "zero_ckb": percent(metrics["knockout"]["zero"]),
                       "random_ckb": percent(metrics["knockout"]["random"]), "majority": majority(ws, arch),
                       "cos": round(metrics["cosine"], 4)}
    reuse = {f"{s}->{t}": {arm: [reuse_arm(ws, s, t, x, arm) for x in ws.scale.seeds] for arm in ARMS}
             for s, t in TRANSFERS}
    return {"knockout": knock, "reuse": reuse, "labels": len(few_labels(ws, 0))}


def lookup_capacity_section(ws: Workspace) -> dict:
    """Capacity of the store of word embeddings: the first transfer's (RNN -> CNN) `imported` arm through stores of
    the scale's capacity sizes (Table 4's: 6.4K, 81.92K and 209.92K parameters at `ci`), the source imported into
    each, and the `random` arm (default size) as the control; one value per seed, paired. A store that holds what
    the newcomer uses should lose it when it is made 10x smaller."""
    if ws.design == "paper":
        return {"skipped": "the paper design's interface has a private path around the store"}
    source, target = TRANSFERS[0]
    sizes = {}
    for ckb in ws.scale.capacity:
        accuracy = [reuse_arm(ws, source, target, s, "imported", ckb) for s in ws.scale.seeds]
        cos = [round(lookup_import(ws, source, s, ckb)[1]["cosine"], 4) for s in ws.scale.seeds]
        sizes[str(ckb_parameters(ckb))] = {"imported": accuracy, "cos": cos}
    return {"transfer": f"{source}->{target}", "sizes": sizes, "default": str(ckb_parameters(ws.scale.small_ckb)),
            "random": [reuse_arm(ws, source, target, s, "random") for s in ws.scale.seeds]}
