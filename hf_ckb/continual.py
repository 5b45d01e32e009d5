"""Growing a bundle: import a network into a bundle's CKB later, keeping the networks already there (issue 11).

    month 1: import_networks({"rnn": rnn}, ..., "kb")
    month 2: import_into("kb", {"cnn": cnn}, ..., "kb2")        # the RNN's teacher is not needed

The earlier networks keep their interfaces; only the CKB and the new interfaces train. `method="naive"` just trains
the CKB on the new networks (the baseline that forgets); `"regularised"` also holds every earlier network's
interface function where it was (its blocks replayed on the rows they were given before the import), on inputs of
that network (`anchor_sets`: e.g. the new data read by its own tokenizer), see `hf_ckb.training.continual`;
`"routing"` lets only the `route_fraction` of each level's rows that the new networks need most and the earlier ones
use least learn (`hf_ckb.training.routing`); `"combined"` does both. `memory_bank` (routed methods) starts the routed
rows from the new teachers' activations (`hf_ckb.training.memory_bank`).
Every earlier interface is re-stamped with the new CKB's fingerprint after its figures are re-measured (fidelity to
its host and CKB-backed accuracy on `anchor_eval_sets`), and the step is appended to the bundle's lineage
(`hf_ckb.lineage`).

Writing into the bundle's own folder is atomic as a whole: the folder holds the previous bundle until the new one is
complete (an interrupted import leaves it as it was).
"""

from __future__ import annotations

import os
import shutil
import time

import torch

from .bundle import Bundle, update_results
from .interface import InterfaceConfig, InterfaceModel
from .layout import CHECKPOINTS, checkpoints_dir
from .lineage import append_step, changed_rows, ckb_snapshot, read_lineage
from .training.continual import DEFAULT_ANCHOR_WEIGHT, METHODS, ContinualTrainingModule
from .training.memory_bank import initialise_networks
from .training.routing import RowRouting, route
from .utils import atomic_directory


def import_into(bundle, hosts: dict, tokenizers: dict, train_sets: dict, eval_sets: dict, output_dir: str, *,
                method: str = "regularised", anchor_sets: dict | None = None, anchor_eval_sets: dict | None = None,
                anchor_weight: float = DEFAULT_ANCHOR_WEIGHT, route_fraction: float = 0.25, replace: bool = False,
                interface_configs: dict | None = None, steps: int = 600, learning_rate: float = 1e-3,
                batch_size: int = 32, loss: str = "nmse", eval_steps: int = 200, seed: int = 0,
                memory_bank: bool = False) -> ContinualTrainingModule:
    """Imports `hosts` (name -> model, with `tokenizers`, unlabelled `train_sets` and labelled `eval_sets` per name,
    as `import_networks` takes them) into `bundle` (a `Bundle` or a bundle folder) and writes the grown bundle to
    `output_dir` (it may be the bundle's own folder). See the module docstring for `method`, `anchor_sets` (inputs
    of each earlier network, tokenized for it; needed by `"regularised"`) and `anchor_eval_sets` (labelled splits
    of earlier networks, to re-measure them). A name already in the bundle is refused unless `replace`.
    `memory_bank` (routed methods, the `memory` design): the routed rows, the ones the new networks will use, start
    as prototypes of their teachers' functions (`hf_ckb.training.memory_bank`), shared out among the new networks.

    Returns the training module (`networks`: the new networks; `anchors`: the earlier ones)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    source = bundle if isinstance(bundle, Bundle) else Bundle.from_pretrained(bundle)
    earlier = _earlier_networks(source, hosts, replace)
    anchor_sets = anchor_sets or {}
    regularised, routed = method in ("regularised", "combined"), method in ("routing", "combined")
    if memory_bank and not routed:
        raise ValueError("memory_bank initialises the rows a routed import will update: use method='routing' or "
                         f"'combined', not {method!r}.")
    if regularised:
        missing = sorted(set(earlier) - set(anchor_sets))
        if missing:
            raise ValueError(f"The {method} method needs inputs of every earlier network; none for {missing} "
                             "(anchor_sets). Give them, or use method='naive'.")
    torch.manual_seed(seed)
    configs = _configs(source, hosts, interface_configs)
    nets = {name: InterfaceModel(host.eval(), source.ckb, configs[name]) for name, host in hosts.items()}
    anchors = earlier if regularised else {}
    module = ContinualTrainingModule(source.ckb, nets, anchors, anchor_weight if anchors else 0.0, loss)
    before, fingerprint, start = ckb_snapshot(source.ckb), source.ckb.fingerprint(), time.time()
    routing = None
    if routed:  # only the rows the new networks need and the earlier ones use least learn
        masks = route(module, train_sets, earlier, anchor_sets, {**source.tokenizers, **tokenizers}, route_fraction,
                      batch_size=batch_size)
        if memory_bank:  # the rows this import will update start as prototypes of the new functions
            initialise_networks(nets, source.ckb, tokenizers, train_sets, within=masks, seed=seed)
        routing = RowRouting(source.ckb, masks)
    history = read_lineage(source.path) if source.path else []
    from .pipeline import _train

    run = checkpoints_dir(output_dir, "import-" + "+".join(hosts))
    try:
        _train(module, {**{n: source.tokenizers.get(n) for n in anchors}, **tokenizers},
               {**{n: anchor_sets[n] for n in anchors}, **train_sets}, eval_sets, run, "import", steps, learning_rate,
               batch_size, eval_steps, seed, False)
    finally:
        if routing is not None:
            routing.close()
    entry = {"networks": sorted(hosts), "method": method, "ckb_before": fingerprint,
             "ckb_after": source.ckb.fingerprint(), "changed_rows": changed_rows(before, source.ckb),
             "seconds": round(time.time() - start, 1),
             "earlier": remeasure(module, earlier, source.tokenizers, anchor_eval_sets or {})}
    if memory_bank:
        entry["memory_bank"] = True
    if routing is not None:
        entry["routed_rows"] = {level: int(mask.sum()) for level, mask in routing.masks.items()}
    results = dict(source.results)  # the earlier networks' figures, with those re-measured on the grown CKB
    results["interfaces"] = {**results.get("interfaces", {}), **entry["earlier"]}
    grown = Bundle(source.ckb, {**earlier, **nets}, dict(source.exported), {**source.tokenizers, **tokenizers},
                   results=results)
    _write(grown, source.path, output_dir, history, entry)
    return module


def _earlier_networks(bundle: Bundle, hosts: dict, replace: bool) -> dict[str, InterfaceModel]:
    clash = sorted(set(hosts) & set(bundle.interfaces))
    if clash and not replace:
        raise ValueError(f"The bundle already holds {clash}: pick another name, or replace=True (--replace) to "
                         "import it again.")
    return {name: net for name, net in bundle.interfaces.items() if name not in hosts}


def bundle_design(bundle: Bundle) -> str:
    """The interface design the bundle's interfaces share ('paper' for a bundle without interfaces)."""
    designs = {c.design for net in bundle.interfaces.values() for c in net.interface_configs.values()}
    if len(designs) > 1:
        raise ValueError(f"The bundle mixes interface designs {sorted(designs)}: give every new network's config.")
    return designs.pop() if designs else "paper"


def _configs(bundle: Bundle, hosts: dict, given: dict | None) -> dict[str, InterfaceConfig]:
    """Each new network's interface config: the one given, else one of the design the bundle's interfaces share."""
    design = bundle_design(bundle)
    configs = {name: (given or {}).get(name) or InterfaceConfig(design=design) for name in hosts}
    other = {name: c.design for name, c in configs.items() if c.design != design and bundle.interfaces}
    if other:
        raise ValueError(f"The bundle's interfaces are of the {design!r} design; {other} would mix designs on one "
                         "store.")
    return configs


@torch.no_grad()
def remeasure(module: ContinualTrainingModule, earlier: dict, tokenizers: dict, eval_sets: dict) -> dict:
    """Per earlier network with a labelled split in `eval_sets`: its fidelity to its host and its CKB-backed accuracy
    on the grown CKB (`evaluate_network`)."""
    from .data import labelled_collator
    from .training import CKBTrainingModule, evaluate_network

    out = {}
    for name, dataset in eval_sets.items():
        if name not in earlier:
            continue
        scoring = CKBTrainingModule(module.ckb, {name: earlier[name]}, "import")
        out[name] = evaluate_network(scoring, name, dataset, labelled_collator(tokenizers.get(name), dataset), 128)
    return out


def _write(grown: Bundle, source_dir: str | None, output_dir: str, history: list, entry: dict) -> None:
    """Writes the grown bundle and its lineage; into the source's own folder as one atomic swap."""
    same = source_dir is not None and os.path.abspath(source_dir) == os.path.abspath(output_dir)
    if not same:
        grown.save_pretrained(output_dir)
        append_step(output_dir, entry, history)
        update_results(output_dir, {})  # the card, now with the step
        return
    with atomic_directory(output_dir) as tmp:
        grown.save_pretrained(tmp)
        append_step(tmp, entry, history)
        update_results(tmp, {})
        old_runs = os.path.join(output_dir, CHECKPOINTS)
        if os.path.isdir(old_runs):  # this import's checkpoints, and those of the runs before it
            shutil.move(old_runs, os.path.join(tmp, CHECKPOINTS))
    grown.path = output_dir


__all__ = ["bundle_design", "import_into", "remeasure"]
