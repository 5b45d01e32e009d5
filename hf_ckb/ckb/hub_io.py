"""The Hub I/O of one CKB (PEFT's `PushToHubMixin` role): `CKBModel.push_to_hub` saves it with its code files and
uploads it with hf_ckb's CKB card. `modeling_ckb.py` imports this module only when hf_ckb is installed (a pushed
`modeling_ckb.py` runs without it); `hf_ckb.hub` (bundles) builds on it, never the other way round."""

from __future__ import annotations

import os
import tempfile

from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError

from ..model_cards import CARD_NAME, bundle_card, card_kind, write_card


def ensure_branch(api: HfApi, repo_id: str, revision: str | None, create_pr: bool = False) -> None:
    """Creates branch `revision` of `repo_id` (from main) when it is a branch name that does not exist yet."""
    if revision is not None and not create_pr and not revision.startswith("refs/"):
        api.create_branch(repo_id, branch=revision, exist_ok=True)


def push_ckb(ckb, repo_id: str, *, commit_message: str | None = None, commit_description: str | None = None,
             private: bool | None = None, token: str | None = None, revision: str | None = None,
             create_pr: bool = False, max_shard_size: int | str | None = "50GB", tags: list[str] | None = None,
             refresh_card: bool = False):
    """`CKBModel.push_to_hub`: saves the CKB (with its code files, so it loads with `trust_remote_code=True`) and
    uploads it with hf_ckb's CKB card. The card is written when the repo has none, or an unedited CKB card; a bundle's
    card or one a user edited is kept (`refresh_card=True` overwrites it anyway). Returns the `CommitInfo`."""
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    ensure_branch(api, repo_id, revision, create_pr)
    with tempfile.TemporaryDirectory() as tmp:
        ckb.save_pretrained(tmp, max_shard_size=max_shard_size)
        existing = _hub_card(api, repo_id, revision)
        if refresh_card or existing is None or card_kind(existing) == "ckb":
            card = bundle_card(ckb.config.to_dict(), repo_id=repo_id)
            if tags:
                card.data.tags = list(dict.fromkeys([*card.data.tags, *tags]))
            write_card(os.path.join(tmp, CARD_NAME), card, refresh=True, kind="ckb")
        return api.upload_folder(folder_path=tmp, repo_id=repo_id, revision=revision, create_pr=create_pr,
                                 commit_message=commit_message or "Upload CKB",
                                 commit_description=commit_description)


def _hub_card(api: HfApi, repo_id: str, revision: str | None) -> str | None:
    """The model card of `repo_id` at `revision`, or None when it has none."""
    try:
        path = hf_hub_download(repo_id, CARD_NAME, revision=revision, token=api.token)
    except EntryNotFoundError:
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


__all__ = ["ensure_branch", "push_ckb"]
