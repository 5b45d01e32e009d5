"""A *bundle*: one folder (or Hub repo) holding a CKB and everything trained around it.

    config.json, model.safetensors     the CKB itself, at the root: `AutoModel.from_pretrained(bundle)` loads it
    interfaces/<name>/                 interface_config.json + interface_model.safetensors
    hosts/<name>/                      the original networks the interfaces belong to (+ tokenizer), optional
    exported/<name>/                   standalone exported networks (+ tokenizer), optional
    results.json                       figures of the run that made it, optional
    README.md                          the model card (`hf_ckb.model_cards`), written unless a user edited it

`hf_ckb.hub` pushes a bundle to the Hub and pulls it back (whole, or network by network).
"""

import json
import os
from dataclasses import dataclass, field

from torch import nn
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

from .ckb import CKBModel
from .interface import INTERFACE_CONFIG_NAME, InterfaceModel

SUBFOLDERS = ("interfaces", "hosts", "exported")


@dataclass
class Bundle:
    """What `load_bundle` returns. `interfaces[name]` is the host `hosts[name]` with its interface attached."""

    path: str
    ckb: CKBModel
    interfaces: dict[str, InterfaceModel] = field(default_factory=dict)
    exported: dict[str, nn.Module] = field(default_factory=dict)
    tokenizers: dict[str, object] = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    repo_id: str | None = None  # set when pulled from the Hub
    revision: str | None = None  # the commit sha it was pulled at


def save_bundle(directory: str, ckb: CKBModel, interfaces: dict[str, InterfaceModel] | None = None,
                exported: dict[str, nn.Module] | None = None, tokenizers: dict | None = None,
                results: dict | None = None, refresh_card: bool = False) -> str:
    """Writes a bundle. Hosts are saved without their interfaces (a plain `save_pretrained` folder). The model cards
    (`README.md`, and one per exported network) are written unless a user edited them (or `refresh_card=True`)."""
    from .model_cards import write_bundle_cards
    from .training.modules import save_standalone  # training imports this module's neighbours

    ckb.save_pretrained(directory)
    tokenizers = tokenizers or {}
    for name, model in (interfaces or {}).items():
        model.save_pretrained(os.path.join(directory, "interfaces", name))
        save_standalone(model, os.path.join(directory, "hosts", name))
    for name, model in (exported or {}).items():  # an export's InterfaceModel is saved as its plain target
        target = os.path.join(directory, "exported", name)
        save_standalone(model, target) if isinstance(model, InterfaceModel) else model.save_pretrained(target)
    for sub in ("hosts", "exported"):
        for name in (interfaces if sub == "hosts" else exported) or {}:
            if name in tokenizers:
                tokenizers[name].save_pretrained(os.path.join(directory, sub, name))
    if results is not None:
        with open(os.path.join(directory, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
    write_bundle_cards(directory, refresh=refresh_card)
    return directory


def load_bundle(directory: str, allow_ckb_mismatch: bool = False, *, revision: str | None = None,
                interfaces: list[str] | None = None, token: str | None = None) -> Bundle:
    """Loads a bundle from a local folder or a Hub repo id (downloaded first, at `revision`; see
    `hf_ckb.hub.load_bundle_from_hub`). Every interface is attached to its host; `interfaces` keeps only those."""
    if not os.path.isdir(directory):
        from .hub import is_repo_id, load_bundle_from_hub

        if is_repo_id(directory):
            return load_bundle_from_hub(directory, revision=revision, interfaces=interfaces,
                                        allow_ckb_mismatch=allow_ckb_mismatch, token=token)
    elif revision is not None:
        raise ValueError(f"{directory!r} is a local folder: revision={revision!r} only applies to Hub repo ids.")
    if not os.path.isfile(os.path.join(directory, "config.json")):
        raise FileNotFoundError(f"{directory!r} is not an hf_ckb bundle: it has no config.json (the CKB).")
    bundle = Bundle(path=directory, ckb=CKBModel.from_pretrained(directory))
    names = _names(directory, "interfaces")
    missing = sorted(set(interfaces or []) - set(names))
    if missing:
        raise FileNotFoundError(f"The bundle {directory!r} has no interface {', '.join(map(repr, missing))}; "
                                f"it has {names}.")
    for name in names if interfaces is None else interfaces:
        host_dir = os.path.join(directory, "hosts", name)
        host = _load_classifier(host_dir)
        bundle.interfaces[name] = InterfaceModel.from_pretrained(
            host, bundle.ckb, os.path.join(directory, "interfaces", name), allow_ckb_mismatch=allow_ckb_mismatch)
        bundle.tokenizers[name] = AutoTokenizer.from_pretrained(host_dir)
    for name in _names(directory, "exported"):
        bundle.exported[name] = _load_classifier(os.path.join(directory, "exported", name))
        bundle.tokenizers.setdefault(name, AutoTokenizer.from_pretrained(os.path.join(directory, "exported", name)))
    results = os.path.join(directory, "results.json")
    if os.path.isfile(results):
        with open(results) as f:
            bundle.results = json.load(f)
    return bundle


def _names(directory: str, sub: str) -> list[str]:
    root = os.path.join(directory, sub)
    if not os.path.isdir(root):
        return []
    marker = INTERFACE_CONFIG_NAME if sub == "interfaces" else "config.json"
    return sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, marker)))


def _load_classifier(path: str) -> nn.Module:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    is_token = any("TokenClassification" in a for a in (config.architectures or []))
    cls = AutoModelForTokenClassification if is_token else AutoModelForSequenceClassification
    return cls.from_pretrained(path).eval()
