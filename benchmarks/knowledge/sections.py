"""The five knowledge tests of issue 10, each a function of a paper-benchmark `Workspace` of one interface design.

Every run is a `Workspace` artifact (built once, loaded after, resumable), so the paper design's runs here are the
paper benchmark's own (Tables 1, 2, 4 use the same keys) and runs that read no interface (teachers, ensembles,
multi-teacher distillation) are shared by both designs. Accuracies in % on the test split; checkpoints are selected
on validation inside each run, never on test.
"""

from hf_ckb.knowledge import knockout
from hf_ckb.pipeline import model_accuracy
from hf_ckb.training import distill

from ..paper.tables.common import seeds_for
from ..paper.tables.t4 import ckb_parameters, size_tag
from ..paper.transfer import adapted
from ..paper.workspace import Workspace
from .common import RANDOM_SEED, majority, percent, teacher
from .continual import continual_section
from .few_labels import few_labels_section
from .images import images_section
from .lookup import lookup_capacity_section, lookup_section
from .memory_bank import memory_bank_section

NETWORKS = ("rnn", "cnn", "ann")
TRANSFERS = (("rnn", "cnn"), ("cnn", "rnn"), ("rnn", "ann"))
FUSED = ("rnn", "cnn")  # {RNN, CNN} -> CKB -> RNN
# issue 10's five tests (the default run); run by name: a newcomer with few labels (two), images and text in one
# CKB, growing the store and memory-bank initialisation (issue 11)
DEFAULT_SECTIONS = ("knockout", "retention", "fusion", "transfer", "capacity")
SECTIONS = (*DEFAULT_SECTIONS, "few_labels", "lookup", "lookup_capacity", "images", "continual", "memory_bank")


def knockout_section(ws: Workspace) -> dict:
    """Each network imported alone (seed 0): the CKB-backed network with its CKB as imported, zeroed and random
    (same std), the interface unchanged; fidelity (cosine) of the interface for each."""
    rows = {}
    for arch in NETWORKS:
        def build(path, arch=arch):
            module, _ = ws.imported((arch,), 0)
            tokenizer, test = ws.test_split(arch)
            return None, knockout(module, arch, test, ws.collator(arch), seed=RANDOM_SEED, batch_size=128)

        scores = ws.artifact(ws.design_key(f"knockout/{arch}-s0"), build)[1]
        rows[arch] = {"teacher": teacher(ws, arch, 0), "ckb_backed": percent(scores["imported"]["accuracy"]),
                      "zero_ckb": percent(scores["zero"]["accuracy"]),
                      "random_ckb": percent(scores["random"]["accuracy"]), "majority": majority(ws, arch),
                      "cos": {kind: round(scores[kind]["cosine"], 4) for kind in ("imported", "zero", "random")},
                      "import_seconds": ws.imported((arch,), 0)[1]["seconds"]}
    return rows


def retention_section(ws: Workspace) -> dict:
    """Each network imported alone and exported into a fresh network of its architecture (Table 1)."""
    return {arch: {"teacher": [teacher(ws, arch, s) for s in seeds_for(ws, [arch])],
                   "ckb_backed": [percent(ws.imported((arch,), s)[1][arch]["accuracy"]) for s in seeds_for(ws, [arch])],
                   "exported": [percent(ws.exported((arch,), s, arch)["accuracy"]) for s in seeds_for(ws, [arch])]}
            for arch in NETWORKS}


def kd_ensemble(ws: Workspace, seed: int) -> float:
    """The peer baseline: a fresh RNN distilled from the mean of the RNN and CNN teachers' logits (multi-teacher
    distillation), on the same unlabelled training inputs and for as many steps as the fused RNN's export."""
    def build(path):
        tokenizer, data = ws.data("rnn")
        steps = ws.scale.export_steps
        student = distill(ws.fresh("rnn", seed), [ws.teacher(a, seed)[0] for a in FUSED], tokenizer,
                          ws.train_inputs("rnn"), data["validation"], path, steps=steps, learning_rate=1e-3,
                          batch_size=ws.scale.batch_size, eval_steps=min(ws.scale.eval_steps, steps), seed=seed)
        return None, {"accuracy": model_accuracy(student, tokenizer, data["test"]), "steps": steps}

    return percent(ws.artifact(f"kd/{'+'.join(FUSED)}-to-rnn-s{seed}", build)[1]["accuracy"])


def fusion_section(ws: Workspace) -> dict:
    """{RNN, CNN} -> CKB -> RNN against the RNN teacher, the same-steps no-fusion control (the RNN imported alone and
    exported), the teachers' logit ensemble and multi-teacher distillation; one value per seed (paired)."""
    s = seeds_for(ws, ["rnn"])
    return {"teacher": [teacher(ws, "rnn", x) for x in s],
            "control": [percent(ws.exported(("rnn",), x, "rnn")["accuracy"]) for x in s],
            "kd_ensemble": [kd_ensemble(ws, x) for x in s],
            "ensemble": [percent(ws.ensemble(FUSED, x)) for x in s],
            "fused": [percent(ws.exported(FUSED, x, "rnn")["accuracy"]) for x in s]}


def transfer_section(ws: Workspace) -> dict:
    """A never-imported architecture given an interface on the frozen CKB of another network imported alone, trained
    by distillation from the CKB-backed source (`benchmarks.paper.transfer.adapted`), against the same procedure on a
    random CKB; the CKB-backed target's accuracy (no export, so only the CKB differs between the two)."""
    rows = {}
    for source, target in TRANSFERS:
        runs = {kind: [percent(adapted(ws, source, target, x, random_ckb=kind == "random")[1]["adapted"])
                       for x in ws.scale.seeds] for kind in ("imported", "random")}
        rows[f"{source}->{target}"] = runs
    return rows


def capacity_section(ws: Workspace) -> dict:
    """The scale's capacity network (the ANN at `ci`) imported alone into CKBs of the scale's sizes and exported
    (Table 4's runs): exported accuracy and the interface's fidelity (cosine) per CKB size (parameters)."""
    arch, rows = ws.scale.capacity_network, {}
    for sizes in ws.scale.capacity:
        tag = size_tag(sizes, ws.scale.small_ckb)  # Table 4's keys
        imported = ws.imported((arch,), 0, sizes, tag)[1][arch]
        rows[str(ckb_parameters(sizes))] = {
            "ckb_backed": percent(imported["accuracy"]), "cos": round(imported["cosine"], 4),
            "exported": percent(ws.exported((arch,), 0, arch, sizes, tag)["accuracy"])}
    return rows


RUNNERS = {"knockout": knockout_section, "retention": retention_section, "fusion": fusion_section,
           "transfer": transfer_section, "capacity": capacity_section, "few_labels": few_labels_section,
           "lookup": lookup_section, "lookup_capacity": lookup_capacity_section, "images": images_section,
           "continual": continual_section, "memory_bank": memory_bank_section}
