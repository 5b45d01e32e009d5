"""Knowledge accounting (issue 12): what a bundle's CKB holds, and which of its networks use it.

`inspect(bundle, datasets)` scores every interface that has its host, on a labelled tokenized dataset:

- **dependence**: the CKB-backed accuracy and the fidelity of the interface to its host's function with the CKB as
  it is, zeroed, and random (the knockout of `hf_ckb.knowledge.knockout`), beside the host's own accuracy and the
  majority class. An interface *depends on the CKB* when a knockout costs it at least `DEPENDENCE_POINTS` points
  of accuracy or `DEPENDENCE_COSINE` of fidelity;
- **slot use** (`hf_ckb.interface.reads`): the share of its attention read that came from CKB rows rather than
  its own input rows, and per level the effective number of rows read and the fraction ever read above 1/n;
- **overlap**: how alike every two interfaces' slot preferences are (`profile_overlap`: do they favour the same
  rows?).

The reads are counted in the import-mode pass of the knockout's "as imported" score (teacher-forced, real
positions only), so accounting costs one pass per knockout and one for the host. `write_report` saves
`inspect/inspect.json` and the plots into the bundle, and its card shows them.
"""

from __future__ import annotations

import contextlib
import itertools
import time

import torch
from tqdm.auto import tqdm

from ..interface.reads import SlotReads, profile_overlap
from .knockout import KNOCKOUTS, knockout

DEPENDENCE_POINTS = 1.0  # accuracy points a knockout must cost for an interface to count as using the CKB
DEPENDENCE_COSINE = 0.05  # or fidelity (cosine to the host's function) it must cost


def inspect(bundle, datasets, *, batch_size: int = 128, seed: int = 1, write: bool = True,
            progress: bool = True) -> dict:
    """Knowledge accounting of `bundle` (a `Bundle`, or a folder or Hub repo id to load; interfaces without a host
    are skipped, and said so) on `datasets`: one labelled tokenized dataset for every interface, or
    `{interface name: dataset}` (interfaces without one are skipped). `seed` draws the random CKB of the knockout.

    Returns the report (see the module docstring); with `write` and a bundle that lives in a folder, also saves it
    there (`write_report`). The CKB is left bit for bit as it was."""
    from ..bundle import Bundle

    start = time.time()
    skipped = {}
    if not isinstance(bundle, Bundle):
        bundle, skipped = load_for_inspection(bundle)
    datasets = datasets if isinstance(datasets, dict) else {name: datasets for name in bundle.interfaces}
    names = sorted(n for n in bundle.interfaces if n in datasets)
    skipped.update({n: "no dataset given" for n in bundle.interfaces if n not in datasets})
    interfaces, profiles = {}, {}
    bar = tqdm(total=len(names) * (len(KNOCKOUTS) + 1), desc="inspect", disable=not progress)
    for name in names:
        interfaces[name], profiles[name] = _account(bundle, name, datasets[name], batch_size, seed, bar)
    bar.close()
    low_slots = bundle.ckb.low_level.shape[0] * bundle.ckb.low_level.shape[1]
    report = {"ckb": ckb_summary(bundle.ckb), "interfaces": interfaces, "overlap": overlaps(profiles, low_slots),
              "profiles": {n: p.tolist() for n, p in profiles.items()}, "skipped": skipped,
              "seconds": round(time.time() - start, 1)}
    if write and bundle.path is not None:
        from .report import write_report

        write_report(bundle.path, report)
    return report


def load_for_inspection(path: str, interfaces: list[str] | None = None):
    """The bundle at `path` (a folder or a Hub repo id) with every interface (of `interfaces`, default all) whose host
    it holds, and `{name: why}` for the others."""
    import os

    from ..bundle import Bundle
    from ..hub import fetch_bundle, is_repo_id
    from ..layout import bundle_names

    if not os.path.isdir(path) and is_repo_id(path):
        path, _ = fetch_bundle(path)
    saved, hosts = bundle_names(path, "interfaces"), set(bundle_names(path, "hosts"))
    names = saved if interfaces is None else list(interfaces)
    skipped = {n: f"no host saved (hosts/{n}/ is missing): its interface cannot run" for n in names
               if n in saved and n not in hosts}
    # a name the bundle does not have is Bundle.from_pretrained's error to raise
    bundle = Bundle.from_pretrained(path, interfaces=[n for n in names if n not in skipped])
    return bundle, skipped


def _account(bundle, name: str, dataset, batch_size: int, seed: int, bar) -> tuple[dict, torch.Tensor]:
    from ..data import labelled_collator
    from ..pipeline import predict_logits
    from ..training import CKBTrainingModule

    net, tokenizer = bundle.interfaces[name], bundle.tokenizers.get(name)
    if len(dataset) == 0:
        raise ValueError(f"The dataset for {name!r} is empty: nothing to score.")
    with net.disable_interfaces():
        logits, labels = predict_logits(net, tokenizer, dataset, batch_size)
    host, majority = _host_scores(logits, labels)
    bar.update()
    module = CKBTrainingModule(bundle.ckb, {name: net}, "import")
    scores, reads = {}, {}
    for kind in KNOCKOUTS:  # one kind at a time, so the reads are those of the CKB as imported only
        with recording_reads(net) if kind == "imported" else contextlib.nullcontext({}) as recorded:
            metrics = knockout(module, name, dataset, labelled_collator(tokenizer, dataset), kinds=(kind,),
                               seed=seed, batch_size=batch_size)[kind]
        reads.update(recorded)
        scores[kind] = {**metrics, "accuracy": 100 * metrics["accuracy"]} if "accuracy" in metrics else metrics
        bar.update()
    if len(reads) != 1:  # a bundle's network runs one interface; none read means it never ran
        raise ValueError(f"Network {name!r}: expected the reads of one interface, got {sorted(reads)}.")
    (active, slot_reads), = reads.items()
    entry = {"examples": len(dataset), "design": net.interface_configs[active].design,
             "host_accuracy": host, "majority": majority, "knockout": scores, "reads": slot_reads.summary()}
    entry.update(dependence(entry))
    return entry, slot_reads.profile()


@contextlib.contextmanager
def recording_reads(net):
    """Within the block, import-mode forwards of `net` add each interface's CKB reads to the yielded
    `{interface name: SlotReads}`."""
    reads: dict[str, SlotReads] = {}
    net.context.reads = reads
    try:
        yield reads
    finally:
        net.context.reads = None


def _host_scores(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """The host's accuracy and the majority-class accuracy, in percent, over the labelled positions."""
    from ..data import labelled_predictions

    predictions, references = labelled_predictions(logits, labels)
    if references.numel() == 0:
        raise ValueError("The dataset has no labels: accounting scores accuracy and needs them.")
    majority = references.bincount().max().item() / references.numel()
    return 100 * (predictions == references).double().mean().item(), 100 * majority


def dependence(entry: dict) -> dict:
    """How much the knockouts cost an interface: `{"accuracy_drop": {kind: points}, "fidelity_drop": {kind: cosine},
    "uses_ckb": bool}` for the zeroed and random CKB against the CKB as imported."""
    scores = entry["knockout"]
    base = scores["imported"]
    acc = {k: base["accuracy"] - scores[k]["accuracy"] for k in KNOCKOUTS[1:] if "accuracy" in scores[k]}
    cos = {k: base["cosine"] - scores[k]["cosine"] for k in KNOCKOUTS[1:]}
    uses = max(acc.values(), default=0.0) >= DEPENDENCE_POINTS or max(cos.values()) >= DEPENDENCE_COSINE
    return {"accuracy_drop": acc, "fidelity_drop": cos, "uses_ckb": bool(uses)}


def overlaps(profiles: dict[str, torch.Tensor], low_slots: int) -> dict[str, float]:
    """`{"a|b": how alike a's and b's slot preferences are}` (`profile_overlap`) for every pair of interfaces."""
    return {f"{a}|{b}": profile_overlap(profiles[a], profiles[b], low_slots)
            for a, b in itertools.combinations(profiles, 2)}


def ckb_summary(ckb) -> dict:
    """The store itself: shapes, parameters, the spread of its values, its fingerprint."""
    low, high = ckb.low_level.detach(), ckb.high_level.detach()
    return {"low_level": list(low.shape), "high_level": list(high.shape), "parameters": low.numel() + high.numel(),
            "std": {"low": float(low.std()), "high": float(high.std())}, "fingerprint": ckb.fingerprint()}


__all__ = ["DEPENDENCE_COSINE", "DEPENDENCE_POINTS", "ckb_summary", "dependence", "inspect", "load_for_inspection",
           "overlaps", "recording_reads"]
