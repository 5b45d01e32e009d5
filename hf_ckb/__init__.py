"""hf_ckb: a continuous knowledge base (Chen, Sun & Liu 2021) for Hugging Face models.

Importing the package registers the CKB (`model_type="ckb"`) and the paper's networks with the Auto classes.
"""

from transformers import AutoConfig, AutoModel

from .bundle import Bundle
from .ckb import CKBConfig, CKBIntegrityError, CKBModel
from .interface import (CKBMismatchError, InterfaceConfig, InterfaceModel, get_interface_model)
from .networks import *  # noqa: F403  (registers the paper's networks with the Auto classes)
from .networks import __all__ as _networks_all

AutoConfig.register("ckb", CKBConfig, exist_ok=True)
AutoModel.register(CKBConfig, CKBModel, exist_ok=True)

__version__ = "0.1.0"


def inspect(bundle, datasets, **kwargs) -> dict:
    """Knowledge accounting of a bundle: see `hf_ckb.knowledge.inspect` (imported on first use: it needs the
    training stack)."""
    from .knowledge import inspect as run

    return run(bundle, datasets, **kwargs)


__all__ = ["Bundle", "CKBConfig", "CKBModel", "CKBIntegrityError", "CKBMismatchError", "InterfaceConfig",
           "InterfaceModel", "get_interface_model", "inspect", *_networks_all]
