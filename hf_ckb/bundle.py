"""A *bundle*: hf_ckb's one save layout. Every run writes one; every command and loader reads one.

    config.json, model.safetensors     the CKB, at the root: `AutoModel.from_pretrained(bundle)` loads it
    interfaces/<name>/                 interface_config.json + interface_model.safetensors
    hosts/<name>/                      the network each interface belongs to, without it (+ tokenizer)
    exported/<name>/                   standalone exported networks (+ tokenizer, + model card)
    results.json                       figures of the runs that wrote it
    README.md                          the model card (`hf_ckb.model_cards`), written unless a user edited it
    checkpoints/<run>/checkpoint-*/    training state of those runs, for resuming; never pushed

A folder is a bundle, and so is a Hub repo (`Bundle.push_to_hub` / `Bundle.from_pretrained(repo_id)`), in the
manner of huggingface_hub's `ModelHubMixin`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field

from torch import nn

from .ckb import CKBModel, load_ckb
from .classifiers import load_classifier
from .hub import fetch_bundle, is_repo_id, push_bundle
from .interface import InterfaceConfig, InterfaceModel
from .interface.standalone import standalone_network
from .layout import RESULTS_NAME, bundle_names, check_layout, is_bundle
from .model_cards import write_bundle_cards
from .utils import atomic_directory, atomic_file

logger = logging.getLogger(__name__)

@dataclass
class Bundle:
    """A CKB and what was trained around it: `interfaces[name]` is the host `name` with its interface attached,
    `exported[name]` a standalone network, `tokenizers[name]` the tokenizer of both."""

    ckb: CKBModel
    interfaces: dict[str, InterfaceModel] = field(default_factory=dict)
    exported: dict[str, nn.Module] = field(default_factory=dict)
    tokenizers: dict[str, object] = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    path: str | None = None  # the folder it was loaded from or last saved to
    repo_id: str | None = None  # set when pulled from the Hub
    revision: str | None = None  # the commit sha it was pulled at

    # ------------------------------------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory: str, *, refresh_card: bool = False) -> str:
        """Writes the bundle to `save_directory`, or updates the bundle already there: every part this object holds
        (the CKB, each interface with its host, each exported network) replaces that part atomically; parts it does
        not hold are kept, and `results` is merged into `results.json`. Cards are (re)written unless edited.

        Interfaces kept from the folder that were trained with another CKB than the one written become stale (they
        then fail to load with `CKBMismatchError`): a warning names them. Returns the folder."""
        _check_target(save_directory)
        self._write_ckb(save_directory)
        for name, net in self.interfaces.items():
            with atomic_directory(os.path.join(save_directory, "interfaces", name)) as tmp:
                net.save_pretrained(tmp)
            self._write_network(save_directory, "hosts", name, standalone_network(net))
        for name, network in self.exported.items():
            if isinstance(network, InterfaceModel):
                network = standalone_network(network)
            self._write_network(save_directory, "exported", name, network)
        update_results(save_directory, self.results, refresh_card=refresh_card)
        _warn_stale(save_directory, self.ckb.fingerprint(), skip=set(self.interfaces))
        self.path = save_directory
        return save_directory

    def _write_ckb(self, directory: str) -> None:
        """The CKB's files replace those at the root, weights first and config.json (with the fingerprint) last."""
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory, prefix=".tmp-ckb-") as tmp:
            self.ckb.save_pretrained(tmp)
            files = sorted(os.listdir(tmp), key=lambda f: f == "config.json")
            for name in files:
                os.replace(os.path.join(tmp, name), os.path.join(directory, name))

    def _write_network(self, directory: str, sub: str, name: str, network: nn.Module) -> None:
        with atomic_directory(os.path.join(directory, sub, name)) as tmp:
            network.save_pretrained(tmp)
            if name in self.tokenizers:
                self.tokenizers[name].save_pretrained(tmp)

    def push_to_hub(self, repo_id: str, *, revision: str | None = None, private: bool | None = None,
                    token: str | None = None, commit_message: str | None = None, refresh_card: bool = False):
        """Pushes the bundle to `repo_id` (see `hf_ckb.hub.push_bundle`: the CKB is committed first, every interface
        records that commit). A bundle never saved is written to a temporary folder first. Returns the `CommitInfo`."""
        if self.path is not None and is_bundle(self.path):
            return push_bundle(self.path, repo_id, revision=revision, private=private, token=token,
                               commit_message=commit_message, refresh_card=refresh_card)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            self.path = None
            return push_bundle(tmp, repo_id, revision=revision, private=private, token=token,
                               commit_message=commit_message, refresh_card=refresh_card)

    # ------------------------------------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, *, revision: str | None = None,
                        interfaces: list[str] | None = None, allow_ckb_mismatch: bool = False,
                        is_trainable: bool = False, token: str | None = None, cache_dir: str | None = None,
                        local_dir: str | None = None) -> "Bundle":
        """Loads a bundle from a folder or a Hub repo id (downloaded first at `revision`: the CKB and every
        interface, or only `interfaces` with their hosts). Each interface is attached to its host and checked
        against the CKB (`CKBMismatchError` for a stale pairing unless `allow_ckb_mismatch=True`); interfaces are
        frozen unless `is_trainable=True` (PEFT's convention)."""
        path, repo_id, sha = pretrained_model_name_or_path, None, None
        if not os.path.isdir(path) and is_repo_id(path):
            path, sha = fetch_bundle(path, revision=revision, interfaces=interfaces, local_dir=local_dir, token=token,
                                     cache_dir=cache_dir)
            repo_id = pretrained_model_name_or_path
        elif revision is not None:
            raise ValueError(f"{path!r} is a local folder: revision={revision!r} only applies to Hub repo ids.")
        check_layout(path)
        bundle = cls(ckb=load_ckb(path), path=path, repo_id=repo_id, revision=sha)
        names = bundle_names(path, "interfaces")
        missing = sorted(set(interfaces or []) - set(names))
        if missing:
            raise FileNotFoundError(f"The bundle {path!r} has no interface {', '.join(map(repr, missing))}; "
                                    f"it has {names}.")
        for name in names if interfaces is None else interfaces:
            host_dir = os.path.join(path, "hosts", name)
            if not os.path.isfile(os.path.join(host_dir, "config.json")):
                raise FileNotFoundError(f"The bundle {path!r} has interface {name!r} but no host for it "
                                        f"({host_dir}/config.json is missing).")
            bundle.interfaces[name] = InterfaceModel.from_pretrained(
                load_classifier(host_dir), bundle.ckb, os.path.join(path, "interfaces", name),
                allow_ckb_mismatch=allow_ckb_mismatch, is_trainable=is_trainable)
            if (tokenizer := _tokenizer(host_dir)) is not None:
                bundle.tokenizers[name] = tokenizer
        for name in bundle_names(path, "exported"):
            folder = os.path.join(path, "exported", name)
            bundle.exported[name] = load_classifier(folder)
            if name not in bundle.tokenizers and (tokenizer := _tokenizer(folder)) is not None:
                bundle.tokenizers[name] = tokenizer
        results = os.path.join(path, RESULTS_NAME)
        if os.path.isfile(results):
            with open(results) as f:
                bundle.results = json.load(f)
        return bundle


def _check_target(directory: str) -> None:
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise FileExistsError(f"{directory!r} is a file: a bundle is a folder.")
    if os.path.isfile(os.path.join(directory, "config.json")) and not is_bundle(directory):
        raise FileExistsError(f"{directory!r} holds a model that is not a CKB: save the bundle to another folder.")


def update_results(directory: str, results: dict, refresh_card: bool = False) -> None:
    """Merges `results` into the bundle's `results.json` two levels deep (`{"interfaces": {name: ...}}` gains names
    and keeps the others), then rewrites the cards from it (unless a user edited them)."""
    if results:
        _merge_json(os.path.join(directory, RESULTS_NAME), results)
    write_bundle_cards(directory, refresh=refresh_card)


def _merge_json(path: str, results: dict) -> None:
    merged = {}
    if os.path.isfile(path):
        with open(path) as f:
            merged = json.load(f)
    for key, value in results.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        json.dump(merged, f, indent=2)


def _warn_stale(directory: str, fingerprint: str, skip: set[str]) -> None:
    stale = [name for name in bundle_names(directory, "interfaces") if name not in skip and
             InterfaceConfig.from_pretrained(os.path.join(directory, "interfaces", name)).ckb_fingerprint
             not in (None, fingerprint)]
    if stale:
        logger.warning(f"{directory}: interfaces {', '.join(stale)} were trained with an earlier CKB than the one "
                       "just saved; loading them raises CKBMismatchError (re-import them, or allow_ckb_mismatch).")


def _tokenizer(folder: str):
    """The tokenizer (or, for an image network, the image processor) saved with a network, or None when none was (a
    bundle may hold networks without one)."""
    from transformers import AutoImageProcessor, AutoTokenizer

    if os.path.isfile(os.path.join(folder, "preprocessor_config.json")):
        return AutoImageProcessor.from_pretrained(folder)
    if not any(os.path.isfile(os.path.join(folder, f)) for f in ("tokenizer_config.json", "tokenizer.json")):
        return None
    return AutoTokenizer.from_pretrained(folder)


__all__ = ["Bundle", "update_results"]
