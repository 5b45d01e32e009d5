from .configuration_ckb import CKBConfig
from .modeling_ckb import CKBModel, weights_fingerprint

__all__ = ["CKBConfig", "CKBModel", "weights_fingerprint"]
