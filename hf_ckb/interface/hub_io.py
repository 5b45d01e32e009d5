"""The Hub I/O of one interface (PEFT's `PushToHubMixin` role): download the two files of a saved interface at a
revision and subfolder, upload a folder creating the repo and branch. Only `huggingface_hub` is used here, so
`hf_ckb.hub` (bundles) builds on this module and not the other way round."""

import os

from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..ckb.hub_io import ensure_branch
from .config import INTERFACE_CONFIG_NAME, INTERFACE_WEIGHTS_NAME


def is_repo_id(name: str) -> bool:
    """Whether `name` reads as a Hub repo id ('namespace/name') rather than a local path."""
    if not isinstance(name, str) or name.count("/") != 1 or name.startswith((".", "~")) or os.path.exists(name):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def upload_folder_to_hub(folder: str, repo_id: str, *, path_in_repo: str | None = None, revision: str | None = None,
                         private: bool | None = None, token: str | None = None, commit_message: str = "Upload",
                         commit_description: str | None = None, create_pr: bool = False,
                         allow_patterns: list[str] | None = None, delete_patterns: list[str] | None = None):
    """Creates `repo_id` (and branch `revision`) when missing, then uploads `folder` in one commit; returns the
    `CommitInfo`."""
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    ensure_branch(api, repo_id, revision, create_pr)
    return api.upload_folder(folder_path=folder, repo_id=repo_id, path_in_repo=path_in_repo, revision=revision,
                             commit_message=commit_message, commit_description=commit_description,
                             create_pr=create_pr, allow_patterns=allow_patterns, delete_patterns=delete_patterns)


def interface_folder(repo_id_or_dir: str, subfolder: str | None = None, revision: str | None = None,
                     token: str | None = None) -> str:
    """The local folder of a saved interface: `repo_id_or_dir/subfolder` for a folder; for a Hub repo id, the
    interface's two files are downloaded (at `revision`) and their cache folder returned."""
    subfolder = (subfolder or "").strip("/")
    if os.path.isdir(repo_id_or_dir) or not is_repo_id(repo_id_or_dir):  # a missing folder fails when read
        if revision is not None:
            raise ValueError(f"{repo_id_or_dir!r} is a local path: revision={revision!r} only applies to repo ids.")
        return os.path.join(repo_id_or_dir, subfolder) if subfolder else repo_id_or_dir
    path = None
    for filename in (INTERFACE_CONFIG_NAME, INTERFACE_WEIGHTS_NAME):
        try:
            path = hf_hub_download(repo_id_or_dir, filename, subfolder=subfolder or None, revision=revision,
                                   token=token)
        except EntryNotFoundError as err:
            raise FileNotFoundError(_missing_interface(repo_id_or_dir, subfolder, revision, token, filename)) from err
    return os.path.dirname(path)


def _missing_interface(repo_id: str, subfolder: str, revision: str | None, token: str | None, filename: str) -> str:
    """The error message for a repo without an interface in `subfolder`, listing where it has interfaces."""
    files = HfApi(token=token).list_repo_files(repo_id, revision=revision)
    found = sorted(f.rsplit("/", 1)[0] for f in files if f.endswith("/" + INTERFACE_CONFIG_NAME))
    found += ["(the repo root)"] if INTERFACE_CONFIG_NAME in files else []
    return (f"{repo_id} (revision {revision or 'main'}) has no interface in {subfolder or 'the repo root'!r} "
            f"({filename} is missing); interfaces there: {found or 'none'}.")
