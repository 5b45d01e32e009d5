from .attention import CKBAttention
from .config import INTERFACE_CONFIG_NAME, INTERFACE_WEIGHTS_NAME, InterfaceConfig
from .layer import InterfaceContext, InterfaceLayer, Record
from .model import CKBMismatchError, InterfaceModel, default_target, get_interface_model

__all__ = ["CKBAttention", "CKBMismatchError", "INTERFACE_CONFIG_NAME", "INTERFACE_WEIGHTS_NAME", "InterfaceConfig",
           "InterfaceContext", "InterfaceLayer", "InterfaceModel", "Record", "default_target", "get_interface_model"]
