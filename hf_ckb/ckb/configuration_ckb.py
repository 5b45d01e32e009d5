"""Configuration of a continuous knowledge base (Chen, Sun & Liu 2021, Eq. 4).

This file imports only transformers and huggingface_hub so that a pushed CKB can be loaded with
`trust_remote_code=True` where `hf_ckb` is not installed.
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class CKBConfig(PreTrainedConfig):
    r"""
    Configuration of a [`CKBModel`]: the sizes of the memory hierarchy `M = {M^h, M^l_1..M^l_K}`.

    Args:
        num_low_level (`int`, *optional*, defaults to 10):
            `K`, the number of low-level matrices `M^l_k`.
        low_level_size (`int`, *optional*, defaults to 30):
            `n_l`, the rows of each low-level matrix.
        high_level_size (`int`, *optional*, defaults to 20):
            `n_h`, the rows of the high-level matrix `M^h`.
        hidden_size (`int`, *optional*, defaults to 256):
            `d`, the width of every row.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the matrices.
        fingerprint (`str`, *optional*):
            A digest of the weights, written on save. Interfaces record the fingerprint of the CKB they were
            trained against, so a stale pairing is caught at load time.

    The defaults are the paper's small setting (81.92K parameters); the BERT/GPT-2 setting is
    `CKBConfig(num_low_level=20, low_level_size=40, hidden_size=2048)` (1.70M).

    Example:

    ```python
    >>> from hf_ckb import CKBConfig, CKBModel
    >>> ckb = CKBModel(CKBConfig())
    >>> ckb.num_parameters()
    81920
    ```"""

    model_type = "ckb"

    num_low_level: int = 10
    low_level_size: int = 30
    high_level_size: int = 20
    hidden_size: int = 256
    initializer_range: float = 0.02
    fingerprint: str | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # `@strict` re-raises validator errors as `StrictDataclassClassValidationError` (not a `ValueError`): check
        # the sizes once here so that a bad size raises a plain `ValueError` at construction.
        self.validate_architecture()

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        """Refuses another model's config: transformers would only warn and build a randomly initialised CKB."""
        model_type = config_dict.get("model_type")
        if model_type is not None and model_type != cls.model_type:
            raise ValueError(f"This config is for a {model_type!r} model, not a CKB (model_type 'ckb'): the folder "
                             "or repo does not hold a saved CKBModel.")
        return super().from_dict(config_dict, **kwargs)

    def validate_architecture(self):
        """Every size must be a positive integer."""
        for name in ("num_low_level", "low_level_size", "high_level_size", "hidden_size"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"CKBConfig.{name} must be a positive integer, got {value}.")


# `save_pretrained` copies this file next to config.json and writes `auto_map`, so that a pushed CKB loads with
# `AutoConfig.from_pretrained(repo_id, trust_remote_code=True)` where hf_ckb is not installed.
CKBConfig.register_for_auto_class()

__all__ = ["CKBConfig"]
