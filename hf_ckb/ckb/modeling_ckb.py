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

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Saves like any `PreTrainedModel`, recording the fingerprint of the saved weights in `config.json`."""
        self.config.fingerprint = self.fingerprint()
        return super().save_pretrained(save_directory, *args, **kwargs)


__all__ = ["CKBModel", "weights_fingerprint"]
