"""The continuous knowledge base as a `PreTrainedModel` (Chen, Sun & Liu 2021, Eq. 4).

Self-contained (torch + transformers only) so that a pushed CKB loads with `trust_remote_code=True`.
"""

import hashlib

import torch
from torch import nn
from transformers import PreTrainedModel

try:  # a relative import inside the package, a flat one in a Hub repo loaded with trust_remote_code
    from .configuration_ckb import CKBConfig
except ImportError:  # pragma: no cover
    from configuration_ckb import CKBConfig


def weights_fingerprint(tensors: list[torch.Tensor]) -> str:
    """A short digest of some tensors' values (float32 bytes), independent of device and dtype of storage."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


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
        return weights_fingerprint([self.low_level, self.high_level])

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """Loads like any `PreTrainedModel` (a folder or a Hub repo id, `revision=...`); with hf_ckb installed, the
        Hub commit the weights came from is kept in `config._commit_hash` (interfaces record it as `ckb_revision`)."""
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        try:
            from hf_ckb.hub import loaded_commit
        except ImportError:  # loaded with trust_remote_code where hf_ckb is not installed
            return model
        model.config._commit_hash = loaded_commit(pretrained_model_name_or_path, kwargs)
        return model

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
        try:
            from hf_ckb.hub import push_ckb
        except ImportError:  # loaded with trust_remote_code where hf_ckb is not installed
            return super().push_to_hub(repo_id, *args, **kwargs)
        return push_ckb(self, repo_id, *args, refresh_card=refresh_card, **kwargs)


# `save_pretrained` copies this file (and configuration_ckb.py) and records it in `auto_map`:
# `AutoModel.from_pretrained(repo_id, trust_remote_code=True)` then works from the pushed repo alone.
CKBModel.register_for_auto_class("AutoModel")


__all__ = ["CKBModel", "weights_fingerprint"]
