"""Model cards for CKB bundles and exported networks, rendered with `huggingface_hub.ModelCard` from the templates
shipped in this package (`bundle_card.md`, `exported_card.md`).

A card written by hf_ckb ends with a seal (its kind and a digest of its text). `write_card` overwrites a card only
when it is missing, still sealed (nobody edited it), or `refresh=True`: a card a user edited is kept.

Figures come from a bundle's `results.json`, in any of these shapes (the first found wins):

    {"interfaces": {name: {"cosine", "rel_l2", "accuracy", "split"?, "host_accuracy"?}}}    canonical
    {"ckb_backed": {name: {...}}, "teacher_accuracy": {name: acc}, "exported_rnn": {...}}   hf-ckb quickstart
    {name: {"validation": {...}, "test": {...}}}                                            import_metrics.json
    {"exported": {name: {"cosine", "rel_l2", "accuracy", "source_interface"?}}}             exported networks
    {"datasets": {name: id}} or {"dataset": id}; {"recipe": {"steps", "learning_rate", "loss", ...}}
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import re

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATES = {"bundle": "bundle_card.md", "exported": "exported_card.md"}
TAGS = ["continuous-knowledge-base", "hf_ckb", "knowledge-transfer"]
CARD_NAME = "README.md"
KINDS = ("bundle", "ckb", "exported")
SEAL = "<!-- hf_ckb {kind} card {digest}: edit it freely, an edited card is never overwritten -->"
_SEAL_RE = re.compile(r"\n*<!-- hf_ckb (bundle|ckb|exported) card ([0-9a-f]{16}):[^\n]*-->\s*$")
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]*[\w]$")
_DATASET_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_FILE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt")
NOT_RECORDED = "–"


def template_text(kind: str) -> str:
    """The shipped template of `kind` ('bundle' or 'exported')."""
    return importlib.resources.files(__name__).joinpath(TEMPLATES[kind]).read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------------- sealing
def _render(kind: str, data: ModelCardData, **values) -> ModelCard:
    card = ModelCard.from_template(data, template_str=template_text(kind), **values)
    return ModelCard(re.sub(r"\n{3,}", "\n\n", str(card)))


def _digest(text: str) -> str:
    return hashlib.sha256(text.rstrip().encode()).hexdigest()[:16]


def seal(text: str, kind: str = "bundle") -> str:
    """`text` with the hf_ckb seal appended: marks the card as generated (a `kind` card) and unedited."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    body = text.rstrip() + "\n"
    return f"{body}\n{SEAL.format(kind=kind, digest=_digest(body))}\n"


def card_kind(text: str) -> str | None:
    """The kind ('bundle', 'ckb', 'exported') of a card hf_ckb wrote that nobody edited since; None for any other
    card (an edited one, or one hf_ckb did not write)."""
    match = _SEAL_RE.search(text)
    return match.group(1) if match and match.group(2) == _digest(text[: match.start()]) else None


def is_unedited_card(text: str) -> bool:
    """Whether `text` is a card hf_ckb wrote that nobody edited since (its seal matches its text)."""
    return card_kind(text) is not None


def write_card(path: str, card: ModelCard | str, refresh: bool = False, kind: str = "bundle") -> bool:
    """Writes `card` (sealed as `kind`) to `path` unless a card a user edited is there (kept unless `refresh`).
    Returns whether it wrote."""
    if os.path.isfile(path) and not refresh:
        with open(path, encoding="utf-8") as f:
            if not is_unedited_card(f.read()):
                return False
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(seal(str(card), kind))
    return True


# ----------------------------------------------------------------------------------------------------- helpers
def is_hub_id(name: str | None) -> bool:
    """Whether `name` looks like a Hub model id ('org/name'), not a local path."""
    return bool(name) and bool(_HUB_ID_RE.match(name)) and ".." not in name and not os.path.exists(name)


def _is_dataset_id(name: str | None) -> bool:
    return bool(name) and bool(_DATASET_RE.match(name)) and not name.endswith(_FILE_SUFFIXES) \
        and not os.path.exists(name)


def _fmt(value, percent: bool = False) -> str:
    if value is None:
        return NOT_RECORDED
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:.4f}"
    return str(value)


def _architecture(config: dict | None) -> str:
    if not config:
        return NOT_RECORDED
    archs = ", ".join(config.get("architectures") or [])
    model_type = config.get("model_type")
    return f"{archs} ({model_type})" if archs and model_type else archs or model_type or NOT_RECORDED


def _task(config: dict | None) -> tuple[str, str]:
    """(pipeline task, Auto class) of a host/exported network from its config."""
    archs = " ".join((config or {}).get("architectures") or [])
    if "TokenClassification" in archs:
        return "token-classification", "AutoModelForTokenClassification"
    return "text-classification", "AutoModelForSequenceClassification"


def interface_figures(results: dict, name: str) -> dict:
    """`{cosine, rel_l2, accuracy, host_accuracy, split}` of network `name` from a results dict (see the module doc);
    missing figures are None."""
    found, split = None, results.get("split") or ("test" if "test_examples" in results else None)
    for key in ("interfaces", "ckb_backed"):
        if isinstance(results.get(key), dict) and isinstance(results[key].get(name), dict):
            found = results[key][name]
            break
    if found is None and isinstance(results.get(name), dict):  # import_metrics.json: {name: {split: {...}}}
        for candidate in ("test", "validation"):
            if isinstance(results[name].get(candidate), dict):
                found, split = results[name][candidate], candidate
                break
    found = found or {}
    host_accuracy = found.get("host_accuracy")
    if host_accuracy is None:
        host_accuracy = (results.get("teacher_accuracy") or results.get("host_accuracy") or {}).get(name)
    return {"cosine": found.get("cosine"), "rel_l2": found.get("rel_l2"), "accuracy": found.get("accuracy"),
            "host_accuracy": host_accuracy, "split": found.get("split", split)}


def exported_figures(results: dict, name: str) -> dict:
    """`{cosine, rel_l2, accuracy, source_interface}` of exported network `name` (None where not recorded)."""
    found = (results.get("exported") or {}).get(name) or results.get(f"exported_{name}") or {}
    return {key: found.get(key) for key in ("cosine", "rel_l2", "accuracy", "source_interface")}


def _dataset(results: dict, name: str, interface: dict | None = None) -> str | None:
    datasets = results.get("datasets")
    return (interface or {}).get("dataset") or (datasets.get(name) if isinstance(datasets, dict) else None) \
        or results.get("dataset")


def _recipe(results: dict) -> list[tuple[str, str]]:
    recipe = results.get("recipe") or results.get("import_recipe") or {}
    order = ["steps", "learning_rate", "loss", "batch_size", "optimizer", "seed"]
    keys = sorted(recipe, key=lambda k: (order.index(k) if k in order else len(order), k))
    return [(key.replace("_", " "), str(recipe[key])) for key in keys]


def ckb_shape(ckb_config: dict) -> dict:
    k, n_l, n_h, d = (ckb_config[key] for key in ("num_low_level", "low_level_size", "high_level_size",
                                                  "hidden_size"))
    return {"K": k, "n_l": n_l, "n_h": n_h, "d": d, "parameters": f"{k * n_l * d + n_h * d:,d}",
            "fingerprint": ckb_config.get("fingerprint") or NOT_RECORDED}


# ----------------------------------------------------------------------------------------------------- cards
def bundle_card(ckb_config: dict, interfaces: dict[str, dict] | None = None, hosts: dict[str, dict] | None = None,
                results: dict | None = None, exported: dict[str, dict] | None = None, repo_id: str | None = None,
                license: str | None = None, inspection: dict | None = None,
                image_networks: set[str] | frozenset = frozenset(), lineage: list[dict] | None = None) -> ModelCard:
    """
    The card of a CKB bundle (or of a CKB alone, with no interfaces).

    Args:
        ckb_config: the CKB's `config.json` as a dict.
        interfaces: network name -> `interface_config.json` as a dict.
        hosts: network name -> the host's `config.json` as a dict (architecture, model type).
        results: the bundle's `results.json` (figures, datasets, recipe; see the module doc).
        exported: exported network name -> its `config.json` as a dict.
        repo_id: the Hub repo id, used in the loading snippet and as the model name.
        license: an optional license id for the metadata.
        inspection: the bundle's knowledge-accounting report (`inspect/inspect.json`, `hf_ckb.knowledge.inspect`).
        image_networks: the networks whose input is images (their host has an image processor); the others read text.
        lineage: the bundle's import steps (`lineage.json`, `hf_ckb.lineage`).
    """
    interfaces, hosts, results, exported = interfaces or {}, hosts or {}, results or {}, exported or {}
    networks, figures, evals, base_models, datasets = [], [], [], [], []
    split = None
    for name in sorted(interfaces):
        iface, host = interfaces[name], hosts.get(name) or {}
        host_id = iface.get("host_model_id") or host.get("_name_or_path") or None
        dataset = _dataset(results, name, iface)
        networks.append({"name": name, "host": host_id or NOT_RECORDED, "host_revision": iface.get("host_revision")
                         or NOT_RECORDED, "architecture": _architecture(host), "dataset": dataset or NOT_RECORDED,
                         "level": iface.get("level") or NOT_RECORDED, "target_module": iface.get("target_module"),
                         "function_kind": iface.get("function_kind") or NOT_RECORDED,
                         "design": iface.get("design") or "paper",
                         "input": "images" if name in image_networks else "text"})
        if is_hub_id(host_id) and host_id not in base_models:
            base_models.append(host_id)
        if _is_dataset_id(dataset) and dataset not in datasets:
            datasets.append(dataset)
        fig = interface_figures(results, name)
        split = split or fig["split"]
        if any(fig[k] is not None for k in ("cosine", "rel_l2", "accuracy", "host_accuracy")):
            figures.append({"name": name, "cosine": _fmt(fig["cosine"]), "rel_l2": _fmt(fig["rel_l2"]),
                            "accuracy": _fmt(fig["accuracy"], True), "host_accuracy": _fmt(fig["host_accuracy"], True)})
        task = _task(host)[0]
        for metric, label in (("accuracy", "CKB-backed accuracy"), ("cosine", "fidelity (cosine)"),
                              ("rel_l2", "fidelity (relative L2 error)")):
            if fig[metric] is not None:
                evals.append(EvalResult(task_type=task, dataset_type=dataset or "unspecified",
                                        dataset_name=dataset or "unspecified", dataset_split=fig["split"],
                                        metric_type=metric if metric != "cosine" else "cosine_similarity",
                                        metric_name=f"{name}: {label}", metric_value=fig[metric]))
    exported_rows = []
    for name in sorted(exported):
        fig = exported_figures(results, name)
        source = fig["source_interface"] or (name if name in interfaces else None)
        exported_rows.append({"name": name, "architecture": _architecture(exported[name]),
                              "source": source or NOT_RECORDED, "cosine": _fmt(fig["cosine"]),
                              "rel_l2": _fmt(fig["rel_l2"]), "accuracy": _fmt(fig["accuracy"], True)})
    model_name = repo_id.split("/")[-1] if repo_id else "continuous-knowledge-base"
    metrics = [m for m, present in (("accuracy", any(e.metric_type == "accuracy" for e in evals)),
                                    ("cosine_similarity", any(e.metric_type == "cosine_similarity" for e in evals)))
               if present]
    data = ModelCardData(library_name="hf_ckb", tags=TAGS + ["ckb"], base_model=base_models or None,
                         datasets=datasets or None, metrics=metrics or None, license=license,
                         model_name=model_name, eval_results=evals or None)
    return _render(
        "bundle", data, title=f"{model_name}: a continuous knowledge base",
        ckb=ckb_shape(ckb_config), networks=networks, figures=figures, exported=exported_rows,
        recipe=_recipe(results), repo_id=repo_id or "path/to/bundle",
        figures_split=f" (figures on the {split} split)" if split else "",
        inspection=inspection_summary(inspection, ckb_config.get("fingerprint")),
        lineage=[{**step, "networks": ", ".join(step["networks"]),
                  "rows": f"{step['changed_rows']['low']} / {step['changed_rows']['high']}"} for step in lineage or []])


def inspection_summary(report: dict | None, fingerprint: str | None) -> dict | None:
    """The card's view of a knowledge-accounting report: one row per network, the overlaps, the skipped networks,
    and whether the report was measured on the CKB the bundle holds now."""
    if not report:
        return None
    rows = []
    for name, e in sorted(report["interfaces"].items()):
        ko, reads = e["knockout"], e["reads"]
        rows.append({"name": name, "design": e["design"], "host": _fmt(e["host_accuracy"] / 100, True),
                     **{k: _fmt(ko[k].get("accuracy", float("nan")) / 100, True)
                        for k in ("imported", "zero", "random")},
                     "majority": _fmt(e["majority"] / 100, True), "uses": "yes" if e["uses_ckb"] else "**no**",
                     "share": _fmt(reads["ckb_share"]),
                     "low": f"{reads['low']['effective_slots']:.1f} / {reads['low']['slots']}",
                     "high": f"{reads['high']['effective_slots']:.1f} / {reads['high']['slots']}",
                     "read": f"{reads['low']['fraction_read']:.2f} / {reads['high']['fraction_read']:.2f}"})
    stale = fingerprint is not None and report["ckb"]["fingerprint"] != fingerprint
    return {"rows": rows, "overlap": [(pair.replace("|", " & "), _fmt(v)) for pair, v in report["overlap"].items()],
            "skipped": sorted(report["skipped"].items()), "stale": stale, "fingerprint": report["ckb"]["fingerprint"],
            "plots": bool(rows)}


def exported_card(config: dict, name: str, bundle_repo_id: str | None = None, source_interface: str | None = None,
                  figures: dict | None = None, dataset: str | None = None, source_host: str | None = None,
                  repo_id: str | None = None, subfolder: str | None = None, license: str | None = None) -> ModelCard:
    """The card of an exported network (its `config.json` as `config`): where its knowledge came from (bundle repo,
    source interface, host, dataset) and its figures (`cosine`, `rel_l2`, `accuracy`)."""
    figures = figures or {}
    task, auto_class = _task(config)
    evals = []
    if figures.get("accuracy") is not None:
        evals.append(EvalResult(task_type=task, dataset_type=dataset or "unspecified",
                                dataset_name=dataset or "unspecified", metric_type="accuracy",
                                metric_name="accuracy", metric_value=figures["accuracy"]))
    base = [i for i in (bundle_repo_id, source_host) if is_hub_id(i)]
    model_name = repo_id.split("/")[-1] if repo_id else name
    data = ModelCardData(library_name="hf_ckb", tags=TAGS + ["ckb-export"], pipeline_tag=task,
                         base_model=base or None, datasets=[dataset] if _is_dataset_id(dataset) else None,
                         metrics=["accuracy"] if evals else None, license=license, model_name=model_name,
                         eval_results=evals or None)
    bundle = f"[{bundle_repo_id}](https://huggingface.co/{bundle_repo_id})" if is_hub_id(bundle_repo_id) \
        else bundle_repo_id or "this bundle"
    return _render(
        "exported", data, title=f"{model_name}: exported from a continuous knowledge base",
        architecture=_architecture(config), bundle=bundle, source=source_interface or NOT_RECORDED,
        source_host=source_host or NOT_RECORDED, dataset=dataset or NOT_RECORDED, cosine=_fmt(figures.get("cosine")),
        rel_l2=_fmt(figures.get("rel_l2")), accuracy=_fmt(figures.get("accuracy"), True), auto_class=auto_class,
        repo_id=repo_id or "path/to/network", subfolder_arg=f'", subfolder="{subfolder}' if subfolder else "")


# ----------------------------------------------------------------------------------------------------- folders
def _read_json(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _sub_configs(directory: str, sub: str, filename: str) -> dict[str, dict]:
    root = os.path.join(directory, sub)
    if not os.path.isdir(root):
        return {}
    found = {name: _read_json(os.path.join(root, name, filename)) for name in sorted(os.listdir(root))}
    return {name: config for name, config in found.items() if config is not None}


def bundle_card_from_folder(directory: str, repo_id: str | None = None, license: str | None = None) -> ModelCard:
    """The card of the bundle saved in `directory` (see `hf_ckb.bundle`)."""
    from ..layout import INSPECT  # imported here: layout imports the interface package, which imports the cards

    ckb_config = _read_json(os.path.join(directory, "config.json"))
    if ckb_config is None:
        raise FileNotFoundError(f"{directory!r} has no config.json: not an hf_ckb bundle.")
    return bundle_card(ckb_config, _sub_configs(directory, "interfaces", "interface_config.json"),
                       _sub_configs(directory, "hosts", "config.json"),
                       _read_json(os.path.join(directory, "results.json")) or {},
                       _sub_configs(directory, "exported", "config.json"), repo_id=repo_id, license=license,
                       inspection=_read_json(os.path.join(directory, INSPECT, "inspect.json")),
                       image_networks=set(_sub_configs(directory, "hosts", "preprocessor_config.json")),
                       lineage=_read_json(os.path.join(directory, "lineage.json")))


def exported_card_from_bundle(directory: str, name: str, bundle_repo_id: str | None = None,
                              repo_id: str | None = None, subfolder: str | None = None) -> ModelCard:
    """The card of `exported/<name>/` of the bundle in `directory`."""
    config = _read_json(os.path.join(directory, "exported", name, "config.json"))
    if config is None:
        raise FileNotFoundError(f"The bundle {directory!r} has no exported network {name!r}.")
    results = _read_json(os.path.join(directory, "results.json")) or {}
    figures = exported_figures(results, name)
    source = figures["source_interface"] or (name if os.path.isdir(os.path.join(directory, "interfaces", name))
                                             else None)
    iface = _read_json(os.path.join(directory, "interfaces", source or "", "interface_config.json")) or {}
    return exported_card(config, name, bundle_repo_id=bundle_repo_id, source_interface=source, figures=figures,
                         dataset=_dataset(results, source or name, iface), source_host=iface.get("host_model_id"),
                         repo_id=repo_id, subfolder=subfolder)


def write_bundle_cards(directory: str, repo_id: str | None = None, refresh: bool = False) -> list[str]:
    """Writes the bundle's card (`README.md`) and one per exported network, keeping edited ones (see `write_card`).
    Returns the paths written."""
    written = []
    if write_card(os.path.join(directory, CARD_NAME), bundle_card_from_folder(directory, repo_id), refresh):
        written.append(CARD_NAME)
    for name in _sub_configs(directory, "exported", "config.json"):
        path = os.path.join("exported", name, CARD_NAME)
        card = exported_card_from_bundle(directory, name, bundle_repo_id=repo_id, repo_id=repo_id,
                                         subfolder=f"exported/{name}")
        if write_card(os.path.join(directory, path), card, refresh, kind="exported"):
            written.append(path)
    return written


__all__ = ["CARD_NAME", "KINDS", "TEMPLATES", "bundle_card", "bundle_card_from_folder", "card_kind",
           "exported_card", "exported_card_from_bundle", "exported_figures", "interface_figures", "is_hub_id",
           "is_unedited_card",
           "seal", "template_text", "write_bundle_cards", "write_card"]
