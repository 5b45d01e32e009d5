"""Converting folders written by hf_ckb before the bundle layout (see `hf_ckb.layout.legacy_kind`) into bundles.

    import run          ckb/, interfaces/<name>/ (no hosts: give them)   ->  the CKB, interfaces/, hosts/
    distillation run    interface/, host/ (+ ckb/ when the CKB trained)   ->  the CKB, interfaces/<name>/, hosts/
    export run          networks/<name>/ (plain networks, no CKB)        ->  exported/<name>/ of an existing bundle
"""

from __future__ import annotations

import os

from .bundle import Bundle
from .ckb import load_ckb
from .classifiers import load_classifier
from .interface import InterfaceModel
from .layout import bundle_names, is_bundle, legacy_kind


def convert_legacy(old: str, new: str, hosts: dict[str, str] | None = None, ckb: str | None = None,
                   name: str | None = None) -> Bundle:
    """Writes the bundle `new` from the old-layout folder `old` and returns it. `hosts` (name -> model folder) gives
    an import run's networks; `ckb` the CKB (a bundle or CKB folder) of a distillation run that did not save one,
    or the bundle an export run's networks join; `name` the interface name of a distillation run (default: the
    host's model_type)."""
    kind = legacy_kind(old)
    if kind is None:
        raise ValueError(f"{old!r} is not a folder of an older hf_ckb layout (nothing to convert).")
    if kind.startswith("an import run"):
        bundle = _import_run(old, hosts or {})
    elif kind.startswith("a distillation run"):
        bundle = _distillation_run(old, ckb, name)
    else:
        bundle = _export_run(old, ckb)
    bundle.save_pretrained(new)
    return bundle


def _import_run(old: str, hosts: dict[str, str]) -> Bundle:
    names = bundle_names(old, "interfaces")
    missing = [n for n in names if n not in hosts]
    if missing:
        raise ValueError(f"{old!r} is an import run without its networks: give each with --network NAME=MODEL_DIR "
                         f"(missing: {', '.join(missing)}).")
    ckb = load_ckb(os.path.join(old, "ckb"))
    bundle = Bundle(ckb)
    for n in names:
        bundle.interfaces[n] = InterfaceModel.from_pretrained(load_classifier(hosts[n]), ckb,
                                                              os.path.join(old, "interfaces", n))
        bundle.tokenizers[n] = _tokenizer(hosts[n])
    return bundle


def _distillation_run(old: str, ckb_dir: str | None, name: str | None) -> Bundle:
    saved = os.path.join(old, "ckb")
    if ckb_dir is None and not os.path.isfile(os.path.join(saved, "config.json")):
        raise ValueError(f"{old!r} is a distillation run that read a CKB it did not save: give that CKB with --ckb.")
    ckb = load_ckb(ckb_dir or saved)
    host = load_classifier(os.path.join(old, "host"))
    name = name or host.config.model_type
    net = InterfaceModel.from_pretrained(host, ckb, os.path.join(old, "interface"))
    return Bundle(ckb, interfaces={name: net}, tokenizers={name: _tokenizer(old)})


def _export_run(old: str, bundle_dir: str | None) -> Bundle:
    if bundle_dir is None or not is_bundle(bundle_dir):
        raise ValueError(f"{old!r} is an export run: its networks/ are standalone networks; give the bundle they "
                         "were exported from with --ckb, and they join its exported/.")
    bundle = Bundle(load_ckb(bundle_dir))
    for n in bundle_names(old, "networks"):
        folder = os.path.join(old, "networks", n)
        bundle.exported[n], bundle.tokenizers[n] = load_classifier(folder), _tokenizer(folder)
    return bundle


def _tokenizer(folder: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


__all__ = ["convert_legacy"]
