"""The continuous knowledge base as a `PreTrainedModel` (Chen, Sun & Liu 2021, Eq. 4).

Self-contained (torch + transformers and its own dependencies huggingface_hub and safetensors) so that a pushed CKB
loads with `trust_remote_code=True` where hf_ckb is not installed.
"""

import hashlib
import json
import os
import re

import torch
from huggingface_hub import try_to_load_from_cache
from safetensors import SafetensorError, safe_open
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, logging

try:  # a relative import inside the package, a flat one in a Hub repo loaded with trust_remote_code
    from .configuration_ckb import CKBConfig
except ImportError:  # pragma: no cover
    from configuration_ckb import CKBConfig

logger = logging.get_logger(__name__)

WEIGHT_NAMES = ("low_level", "high_level")  # the CKB's tensors, in the order the fingerprint digests them
VERIFY_MODES = ("warn", "error", False)
_SNAPSHOT_RE = re.compile(r"[/\\]snapshots[/\\]([0-9a-f]{40})(?:[/\\]|$)")


class CKBIntegrityError(ValueError):
    """A saved CKB's weights are unreadable (corrupted or truncated file), hold NaN/inf, or are not the weights its
    `config.json` records (their fingerprint differs)."""


def weights_fingerprint(tensors: list[torch.Tensor]) -> str:
    """A short digest of some tensors' values (float32 bytes), independent of device and dtype of storage."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def weights_problem(tensors: dict[str, torch.Tensor], recorded: str | None, where: str) -> str | None:
    """Why the CKB weights `tensors` (read from `where`) must not be used, or None: a tensor missing, NaN/inf values,
    or a fingerprint other than the one `config.json` records (`recorded`; not checked when None)."""
    missing = [name for name in WEIGHT_NAMES if name not in tensors]
    if missing:
        return (f"{where} has no tensor {' or '.join(missing)}: it is corrupted or not a CKB's weights; re-download "
                "or re-save it.")
    non_finite = [name for name in WEIGHT_NAMES if not torch.isfinite(tensors[name]).all()]
    if non_finite:
        return (f"{where} holds non-finite values (NaN or inf) in {' and '.join(non_finite)}: the CKB is corrupted; "
                "re-download it, or restore it from a checkpoint saved before its training diverged.")
    found = weights_fingerprint([tensors[name] for name in WEIGHT_NAMES])
    if recorded and found != recorded:
        return (f"The weights in {where} (fingerprint {found}) are not the ones its config.json records "
                f"({recorded}): the file was changed or corrupted after the CKB was saved; re-download it, or "
                "re-save the CKB with save_pretrained (which records the fingerprint of what it writes).")
    return None


def _local_file(path_or_repo_id: str, filename: str, kwargs: dict) -> str | None:
    """The local path of `filename` in a folder, or in the cached snapshot of a Hub repo (no request is made), with
    the `subfolder`/`revision`/`cache_dir` of `from_pretrained(path_or_repo_id, **kwargs)`; None when absent."""
    name = "/".join(filter(None, [kwargs.get("subfolder"), filename]))
    if os.path.isdir(path_or_repo_id):
        path = os.path.join(path_or_repo_id, name)
        return path if os.path.isfile(path) else None
    path = try_to_load_from_cache(path_or_repo_id, name, cache_dir=kwargs.get("cache_dir"),
                                  revision=kwargs.get("revision"))
    return path if isinstance(path, str) else None


def loaded_commit(path_or_repo_id, kwargs: dict | None = None) -> str | None:
    """The commit sha of the Hub snapshot a model was just loaded from (`from_pretrained(path_or_repo_id,
    **kwargs)`), read from the local cache without a request; None for a plain local folder. (transformers >= 5
    no longer records it: `PreTrainedConfig` drops `_commit_hash`.)"""
    path = str(path_or_repo_id)
    if not os.path.isdir(path):
        path = _local_file(path, "config.json", kwargs or {})
    match = _SNAPSHOT_RE.search(os.path.abspath(path)) if path else None
    return match.group(1) if match else None


def _weights_files(path_or_repo_id: str, kwargs: dict) -> tuple[str, list[str]]:
    """`(where, files)`: the local safetensors file(s) a CKB loads from (one file, or the shards of an index) and how
    to name them in a message; no files when it has none in safetensors format."""
    single = _local_file(path_or_repo_id, SAFE_WEIGHTS_NAME, kwargs)
    if single:
        return single, [single]
    index = _local_file(path_or_repo_id, SAFE_WEIGHTS_INDEX_NAME, kwargs)
    if index is None:
        return str(path_or_repo_id), []
    try:
        with open(index, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    except (ValueError, KeyError, AttributeError, TypeError) as err:  # not JSON, or not an index
        raise CKBIntegrityError(f"{index} is corrupted or truncated; re-download or re-save it ({err!r}).") from err
    return index, [os.path.join(os.path.dirname(index), shard) for shard in shards]


def _read_weights(files: list[str]) -> dict[str, torch.Tensor]:
    """Every tensor of the safetensors `files`; a file that does not parse raises `CKBIntegrityError` naming it."""
    tensors = {}
    for file in files:
        try:
            with safe_open(file, framework="pt") as f:
                tensors.update({key: f.get_tensor(key) for key in f.keys()})
        except SafetensorError as err:
            raise CKBIntegrityError(f"{file} is corrupted or truncated; re-download or re-save it "
                                    f"(safetensors: {err}).") from err
    return tensors


def _require_files(path_or_repo_id, kwargs: dict) -> None:
    """A local folder without config.json or without weights raises a `FileNotFoundError` naming the folder."""
    subfolder = kwargs.get("subfolder")
    folder = os.path.join(str(path_or_repo_id), subfolder) if subfolder else str(path_or_repo_id)
    if not os.path.isdir(folder):
        return  # a Hub repo id (or a missing path): transformers says what is wrong
    names = os.listdir(folder)
    missing = [] if "config.json" in names else ["config.json"]
    if not any(name.endswith((".safetensors", ".bin")) for name in names):
        missing.append(f"weights ({SAFE_WEIGHTS_NAME})")
    if missing:
        raise FileNotFoundError(f"{folder!r} holds no saved CKB: it has no {' and no '.join(missing)}. Give the "
                                "folder a CKB was saved to (CKBModel.save_pretrained), or re-download it.")


class CKBModel(PreTrainedModel):
    r"""
    A continuous knowledge base: one high-level matrix `M^h` (`n_h x d`) and `K` low-level matrices `M^l_k`
    (`n_l x d`), the only parameters it has. Interfaces (see `hf_ckb.InterfaceConfig`) read it; it computes
    nothing by itself, so `forward()` just returns the memory.

    Example:

    ```python
    >>> import hf_ckb
    >>> from transformers import AutoModel
    >>> ckb = hf_ckb.CKBModel(hf_ckb.CKBConfig(num_low_level=4))
    >>> ckb.save_pretrained("my-ckb")
    >>> AutoModel.from_pretrained("my-ckb").low_level.shape
    torch.Size([4, 30, 256])
    ```"""

    config_class = CKBConfig
    base_model_prefix = "ckb"
    main_input_name = "low_level"
    _no_split_modules = []

    def __init__(self, config: CKBConfig):
        super().__init__(config)
        # (K, n_l, d): one tensor so interfaces read all K low-level matrices in one batched op.
        self.low_level = nn.Parameter(torch.empty(config.num_low_level, config.low_level_size, config.hidden_size))
        # (n_h, d)
        self.high_level = nn.Parameter(torch.empty(config.high_level_size, config.hidden_size))
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        if module is self:
            nn.init.normal_(self.low_level, std=self.config.initializer_range)
            nn.init.normal_(self.high_level, std=self.config.initializer_range)

    @property
    def dummy_inputs(self):
        return {}

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns `(low_level, high_level)` of shapes `(K, n_l, d)` and `(n_h, d)`."""
        return self.low_level, self.high_level

    def fingerprint(self) -> str:
        """A 16-hex digest of the current weights; changes whenever any value changes."""
        return weights_fingerprint([getattr(self, name) for name in WEIGHT_NAMES])

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, verify: str | bool = "warn", **kwargs):
        """Loads like any `PreTrainedModel` (a folder or a Hub repo id, `revision=...`; also through `AutoModel`),
        then checks the weights file against `config.json`: NaN/inf values, or a fingerprint other than the recorded
        one, log a warning (`verify="warn"`), raise `CKBIntegrityError` (`verify="error"`, what hf_ckb's loaders
        use, see `load_ckb`) or go unchecked (`verify=False`). A file that does not parse always raises
        `CKBIntegrityError`; a folder without weights, `FileNotFoundError`. The Hub commit the weights came from is
        kept in `config._commit_hash` (interfaces record it as `ckb_revision`)."""
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}.")
        path = pretrained_model_name_or_path
        _require_files(path, kwargs)
        try:
            model = super().from_pretrained(path, *args, **kwargs)
        except SafetensorError as err:
            _read_weights(_weights_files(str(path), kwargs)[1])  # raises naming the file that does not parse
            raise CKBIntegrityError(f"The weights of {str(path)!r} are corrupted or truncated; re-download or re-save "
                                    f"them (safetensors: {err}).") from err
        model.config._commit_hash = loaded_commit(path, kwargs)
        if verify:
            model._verify_weights(str(path), kwargs, raise_error=verify == "error")
        return model

    def _verify_weights(self, path: str, kwargs: dict, raise_error: bool) -> None:
        """Checks the files this CKB was just loaded from (the loaded tensors when none is in safetensors format)."""
        where, files = _weights_files(path, kwargs)
        tensors = _read_weights(files) if files else dict(self.named_parameters())
        problem = weights_problem(tensors, self.config.fingerprint, where)
        if problem and raise_error:
            raise CKBIntegrityError(problem)
        if problem:
            logger.warning(problem)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Saves like any `PreTrainedModel`, recording the fingerprint of the saved weights in `config.json`, with
        `configuration_ckb.py`/`modeling_ckb.py` and `auto_map` (the CKB then loads with `trust_remote_code=True`
        where hf_ckb is not installed)."""
        fingerprint = self.fingerprint()
        if fingerprint != self.config.fingerprint:  # changed since loaded: no longer the Hub revision it came from
            self.config._commit_hash = None
        self.config.fingerprint = fingerprint
        return super().save_pretrained(save_directory, *args, **kwargs)

    def push_to_hub(self, repo_id: str, *args, refresh_card: bool = False, **kwargs):
        """Pushes like any `PreTrainedModel`; with hf_ckb installed the model card is hf_ckb's CKB card (sizes, how to
        load it), never transformers' generic one. A bundle's card or an edited card already in the repo is kept
        (unless `refresh_card=True`)."""
        try:  # absolute on purpose: transformers copies relatively imported files into the pushed repo
            from hf_ckb.ckb.hub_io import push_ckb
        except ImportError:  # loaded with trust_remote_code where hf_ckb is not installed
            return super().push_to_hub(repo_id, *args, **kwargs)
        return push_ckb(self, repo_id, *args, refresh_card=refresh_card, **kwargs)


def load_ckb(pretrained_model_name_or_path, **kwargs) -> CKBModel:
    """How hf_ckb's own loaders read a CKB: `CKBModel.from_pretrained(..., verify="error")`, so changed, corrupted or
    non-finite weights raise `CKBIntegrityError` instead of logging a warning."""
    return CKBModel.from_pretrained(pretrained_model_name_or_path, verify="error", **kwargs)


# `save_pretrained` copies this file (and configuration_ckb.py) and records it in `auto_map`:
# `AutoModel.from_pretrained(repo_id, trust_remote_code=True)` then works from the pushed repo alone.
CKBModel.register_for_auto_class("AutoModel")


__all__ = ["CKBIntegrityError", "CKBModel", "load_ckb", "loaded_commit", "weights_fingerprint", "weights_problem"]
