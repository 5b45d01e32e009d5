from .attention import CKBAttention
from .config import INTERFACE_CONFIG_NAME, INTERFACE_WEIGHTS_NAME, InterfaceConfig
from .layer import InterfaceContext, InterfaceLayer, Record
from .model import PARAMETER_ROLES, CKBMismatchError, InterfaceModel, get_interface_model
from .targets import TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING, default_target

__all__ = ["CKBAttention", "CKBMismatchError", "INTERFACE_CONFIG_NAME", "INTERFACE_WEIGHTS_NAME", "InterfaceConfig",
           "InterfaceContext", "InterfaceLayer", "InterfaceModel", "PARAMETER_ROLES", "Record",
           "TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING", "default_target", "get_interface_model"]
