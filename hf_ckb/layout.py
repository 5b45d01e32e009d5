"""The bundle layout on disk (see `hf_ckb.bundle`): names, and the checks that tell a bundle from other folders.

Kept apart from `hf_ckb.bundle` so that `hf_ckb.hub`, which moves a bundle's files, needs no model classes.
"""

import json
import os

from .interface.config import INTERFACE_CONFIG_NAME

SUBFOLDERS = ("interfaces", "hosts", "exported")
CHECKPOINTS = "checkpoints"
INSPECT = "inspect"  # the knowledge-accounting report and its plots (`hf_ckb.knowledge.report`)
RESULTS_NAME = "results.json"


class LegacyLayoutError(ValueError):
    """A folder written by an older hf_ckb (an import or export run, or a distillation run): says how to convert."""


def checkpoints_dir(directory: str, run: str) -> str:
    """`<directory>/checkpoints/<run>`: the Trainer's `output_dir` for a run that writes the bundle `directory`."""
    return os.path.join(directory, CHECKPOINTS, run)


def bundle_names(directory: str, sub: str) -> list[str]:
    """The names saved under `directory/sub/` ('interfaces', 'hosts' or 'exported') of a local bundle."""
    root = os.path.join(directory, sub)
    if not os.path.isdir(root):
        return []
    marker = INTERFACE_CONFIG_NAME if sub == "interfaces" else "config.json"
    return sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, marker)))


def is_bundle(directory: str) -> bool:
    config = os.path.join(directory, "config.json")
    if not os.path.isfile(config):
        return False
    try:
        with open(config) as f:
            return json.load(f).get("model_type") == "ckb"
    except (OSError, ValueError):
        return False


def check_layout(directory: str) -> None:
    """Raises a clear error unless `directory` is a bundle: `FileNotFoundError` for a missing folder or one without
    a CKB, `LegacyLayoutError` (saying how to convert) for a folder of an older hf_ckb."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory!r}: no such folder (nor a Hub repo id).")
    if is_bundle(directory):
        return
    legacy = legacy_kind(directory)
    if legacy is not None:
        raise LegacyLayoutError(f"{directory!r} is {legacy} written by an older hf_ckb; convert it into a bundle "
                                f"with `hf-ckb convert {directory} --output-dir NEW_DIR` (`hf-ckb convert --help`).")
    what = "holds a model that is not a CKB" if os.path.isfile(os.path.join(directory, "config.json")) else \
        "has no config.json (the CKB)"
    raise FileNotFoundError(f"{directory!r} is not an hf_ckb bundle: it {what}.")


def legacy_kind(directory: str) -> str | None:
    """What an older hf_ckb wrote in `directory`, in words, or None: an import run (`ckb/` + `interfaces/`), an
    export run (`networks/`) or a distillation run (`interface/` + `host/`)."""
    has = lambda *parts: os.path.exists(os.path.join(directory, *parts))  # noqa: E731
    if has("ckb", "config.json") and has("interfaces"):
        return "an import run (ckb/, interfaces/)"
    if has("networks"):
        return "an export run (networks/)"
    if has("interface", INTERFACE_CONFIG_NAME) and has("host", "config.json"):
        return "a distillation run (interface/, host/)"
    return None


__all__ = ["CHECKPOINTS", "INSPECT", "RESULTS_NAME", "SUBFOLDERS", "LegacyLayoutError", "bundle_names", "check_layout",
           "checkpoints_dir", "is_bundle", "legacy_kind"]
