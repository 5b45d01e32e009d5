from .configuration_ckb import CKBConfig
from .modeling_ckb import CKBIntegrityError, CKBModel, load_ckb, weights_fingerprint

__all__ = ["CKBConfig", "CKBIntegrityError", "CKBModel", "load_ckb", "weights_fingerprint"]
