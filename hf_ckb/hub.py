"""Sharing CKBs on the Hugging Face Hub: push a bundle (the CKB and all of its interfaces, hosts and exported
networks, see `hf_ckb.bundle`) to one repo and pull it back, whole or network by network.

    push_bundle("my-bundle", "org/my-ckb")                      # hf-ckb push my-bundle org/my-ckb
    path = download_bundle("org/my-ckb", revision=None)         # hf-ckb pull org/my-ckb --output-dir DIR
    path = download_bundle("org/my-ckb", interfaces=["rnn"])

`hf_ckb.Bundle.push_to_hub` / `Bundle.from_pretrained(repo_id)` do the same for a loaded bundle; this module only
moves files (it loads no model but the CKB whose fingerprint it records).

The single pieces push and pull with their own classes: `CKBModel.push_to_hub` / `CKBModel.from_pretrained(repo_id,
revision=...)` (also through `AutoModel`), `InterfaceModel.push_to_hub(repo_id, subfolder=...)` /
`InterfaceModel.from_pretrained(host, ckb, repo_id, subfolder="interfaces/rnn", revision=...)`.

Every interface records the fingerprint of the CKB it was trained with and, when known, the commit of the repo
holding that CKB (`ckb_revision`): `push_bundle` first commits the CKB, then the rest with that commit's sha.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download, snapshot_download

from .ckb.hub_io import push_ckb  # noqa: F401  (re-exported: the Hub I/O of a CKB lives with it)
from .ckb.modeling_ckb import loaded_commit  # noqa: F401  (re-exported)
from .interface import INTERFACE_CONFIG_NAME, InterfaceConfig
from .interface.hub_io import ensure_branch as _ensure_branch
from .interface.hub_io import interface_folder, is_repo_id, upload_folder_to_hub  # noqa: F401  (re-exported)
from .layout import INSPECT, RESULTS_NAME, SUBFOLDERS, bundle_names, check_layout
from .lineage import LINEAGE_NAME
from .model_cards import CARD_NAME, exported_card_from_bundle, write_bundle_cards, write_card

BUNDLE_FOLDERS = (*SUBFOLDERS, INSPECT)  # pushed, and mirrored (files the bundle no longer has are deleted)
_CKB_FILE_RE = re.compile(r"^(config\.json|model(-\d+-of-\d+)?\.safetensors(\.index\.json)?|(configuration|modeling)"
                          r"_ckb\.py)$")
_ROOT_FILES = (RESULTS_NAME, LINEAGE_NAME, CARD_NAME)


# ----------------------------------------------------------------------------------------------------- pushing
def push_bundle(directory: str, repo_id: str, *, revision: str | None = None, private: bool | None = None,
                token: str | None = None, commit_message: str | None = None, refresh_card: bool = False):
    """
    Pushes the bundle in `directory` to `repo_id` (created if missing), at branch `revision` (created from main if
    missing). The repo then mirrors the bundle: files of `interfaces/`, `hosts/`, `exported/` that the bundle no
    longer has are deleted; anything else in `directory` (its `checkpoints/`, for one) is not uploaded.

    Two commits: the CKB first, then everything else with each interface's `ckb_revision` set to that commit (also
    in the local `interface_config.json` files). The bundle's cards are (re)written with the real repo id unless a
    user edited them (`refresh_card=True` overwrites them). Returns the `CommitInfo` of the last commit.
    """
    from .ckb import load_ckb

    check_layout(directory)
    root_files = sorted(f for f in os.listdir(directory) if os.path.isfile(os.path.join(directory, f)))
    ckb_files = [f for f in root_files if _CKB_FILE_RE.match(f)]
    fingerprint = load_ckb(directory).fingerprint()
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    _ensure_branch(api, repo_id, revision)
    message = commit_message or "Upload hf_ckb bundle"
    ckb_commit = api.create_commit(
        repo_id, [CommitOperationAdd(f, os.path.join(directory, f)) for f in ckb_files], revision=revision,
        commit_message=f"{message} (CKB {fingerprint})")
    _record_ckb_revision(api, directory, repo_id, fingerprint, ckb_commit.oid)
    write_bundle_cards(directory, repo_id=repo_id, refresh=refresh_card)
    folders = [f"{sub}/**" for sub in BUNDLE_FOLDERS]
    return api.upload_folder(folder_path=directory, repo_id=repo_id, revision=revision, commit_message=message,
                             allow_patterns=ckb_files + list(_ROOT_FILES) + folders,
                             delete_patterns=folders + [RESULTS_NAME, LINEAGE_NAME])


def _record_ckb_revision(api: HfApi, directory: str, repo_id: str, fingerprint: str, sha: str) -> None:
    """Sets `ckb_revision` of the bundle's interfaces trained with this CKB, keeping a recorded commit of `repo_id`
    that holds the same CKB."""
    checked: dict[str, bool] = {sha: True}
    for name in bundle_names(directory, "interfaces"):
        folder = os.path.join(directory, "interfaces", name)
        config = InterfaceConfig.from_pretrained(folder)
        if config.ckb_fingerprint != fingerprint:
            continue  # a stale interface keeps its record (loading it will say so)
        recorded = config.ckb_revision
        if recorded and recorded not in checked:
            checked[recorded] = _holds_ckb(api, repo_id, recorded, fingerprint)
        if not (recorded and checked[recorded]):
            config.ckb_revision = sha
            config.save_pretrained(folder)


def _holds_ckb(api: HfApi, repo_id: str, revision: str, fingerprint: str) -> bool:
    try:
        path = hf_hub_download(repo_id, "config.json", revision=revision, token=api.token)
    except Exception:  # unknown revision (e.g. recorded in another repo), or no CKB there
        return False
    with open(path) as f:
        return json.load(f).get("fingerprint") == fingerprint


def push_exported(directory: str, name: str, repo_id: str, *, bundle_repo_id: str | None = None,
                  revision: str | None = None, private: bool | None = None, token: str | None = None,
                  commit_message: str | None = None):
    """Pushes the exported network `exported/<name>/` of the bundle in `directory` as a standalone model repo, with
    a card saying where its knowledge came from (`bundle_repo_id`, the source interface, its figures)."""
    source = os.path.join(directory, "exported", name)
    if not os.path.isfile(os.path.join(source, "config.json")):
        raise FileNotFoundError(f"The bundle {directory!r} has no exported network {name!r}.")
    with tempfile.TemporaryDirectory() as tmp:
        staged = os.path.join(tmp, name)
        shutil.copytree(source, staged, ignore=shutil.ignore_patterns(CARD_NAME))
        card = exported_card_from_bundle(directory, name, bundle_repo_id=bundle_repo_id, repo_id=repo_id)
        write_card(os.path.join(staged, CARD_NAME), card, refresh=True, kind="exported")
        return upload_folder_to_hub(staged, repo_id, revision=revision, private=private, token=token,
                                    commit_message=commit_message or f"Upload the exported network {name}")


# ----------------------------------------------------------------------------------------------------- pulling
def download_bundle(repo_id: str, revision: str | None = None, interfaces: list[str] | None = None,
                    local_dir: str | None = None, token: str | None = None, cache_dir: str | None = None) -> str:
    """Downloads a bundle (all of it, or the CKB plus the given `interfaces` and their hosts) into the Hub cache or
    `local_dir`; returns the folder. Raises `RepositoryNotFoundError`/`RevisionNotFoundError` from the Hub, and
    `FileNotFoundError` for a repo that is not a bundle or lacks a requested interface."""
    return fetch_bundle(repo_id, revision, interfaces, local_dir, token, cache_dir)[0]


def fetch_bundle(repo_id: str, revision: str | None = None, interfaces: list[str] | None = None,
                 local_dir: str | None = None, token: str | None = None,
                 cache_dir: str | None = None) -> tuple[str, str]:
    """`download_bundle`, returning `(folder, commit sha)`: a branch name is resolved once, so every file comes
    from the same commit even if the branch moves meanwhile."""
    info = HfApi(token=token).model_info(repo_id, revision=revision)
    files = [s.rfilename for s in info.siblings or []]
    where = f"{repo_id} (revision {revision or 'main'})"
    if "config.json" not in files:
        raise FileNotFoundError(f"{where} is not an hf_ckb bundle or CKB: it has no config.json.")
    patterns = None
    if interfaces is not None:
        available = _repo_names(files, "interfaces")
        missing = [n for n in interfaces if n not in available]
        if missing:
            raise FileNotFoundError(f"{where} has no interface {', '.join(map(repr, missing))}; its interfaces: "
                                    f"{available or 'none'}.")
        patterns = [f for f in files if "/" not in f] + [f"{sub}/{n}/*" for n in interfaces
                                                         for sub in ("interfaces", "hosts")]
    path = snapshot_download(repo_id, revision=info.sha, allow_patterns=patterns, local_dir=local_dir, token=token,
                             cache_dir=cache_dir)
    return path, info.sha


def check_bundle(directory: str, allow_ckb_mismatch: bool = False) -> list[str]:
    """Checks every interface of the bundle in `directory` against its CKB without loading the hosts. Raises
    `CKBMismatchError` for a stale pairing unless `allow_ckb_mismatch`; returns the names of the stale ones."""
    from .ckb import load_ckb
    from .interface.model import CKBMismatchError, check_ckb

    ckb, stale = load_ckb(directory), []
    for name in bundle_names(directory, "interfaces"):
        folder = os.path.join(directory, "interfaces", name)
        try:
            check_ckb(InterfaceConfig.from_pretrained(folder), ckb, folder, allow_mismatch=False)
        except CKBMismatchError:
            if not allow_ckb_mismatch:
                raise
            stale.append(name)
    return stale


def _repo_names(files: list[str], sub: str) -> list[str]:
    marker = INTERFACE_CONFIG_NAME if sub == "interfaces" else "config.json"
    return sorted({f.split("/")[1] for f in files if f.startswith(sub + "/") and f.count("/") == 2
                   and f.endswith("/" + marker)})


__all__ = ["check_bundle", "download_bundle", "fetch_bundle", "interface_folder", "is_repo_id", "loaded_commit",
           "push_bundle", "push_ckb", "push_exported", "upload_folder_to_hub"]
