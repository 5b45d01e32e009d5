"""Which function of a host an interface imitates by default, keyed by the host's `config.model_type` (PEFT's
`TRANSFORMERS_MODELS_TO_*_TARGET_MODULES_MAPPING` role).

A path is relative to the host's base model (`host.<base_model_prefix>` when the host is a model with a head, else
the host itself), so one entry serves `BertModel` ('encoder') and `BertForSequenceClassification` ('bert.encoder').
Another model type: pass `InterfaceConfig(target_module=..., function_kind=...)`, or add an entry here.
"""

from torch import nn

from ..networks import ANNPreTrainedModel, CNNPreTrainedModel, DigitsForImageClassification, RNNPreTrainedModel

# The paper's networks declare their function themselves (`_ckb_target_module`, the contract of hf_ckb.networks).
_NETWORK_TARGETS = {cls.config_class.model_type: (cls._ckb_target_module, cls._ckb_function_kind)
                    for cls in (RNNPreTrainedModel, CNNPreTrainedModel, ANNPreTrainedModel,
                                DigitsForImageClassification)}

TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING: dict[str, tuple[str, str]] = {
    "bert": ("encoder", "sequence"),  # also MiniLM
    "roberta": ("encoder", "sequence"),
    "gpt2": ("h", "sequence"),  # a ModuleList: the whole stack is imitated as one function
    "llama": ("layers", "sequence"),  # also SmolLM2
    "mistral": ("layers", "sequence"),
    "qwen2": ("layers", "sequence"),
    **_NETWORK_TARGETS,
}


def default_target(host: nn.Module) -> tuple[str, str, int | None]:
    """`(module path, function kind, window size)` of the function an interface imitates in `host` by default,
    from `TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING[host.config.model_type]`. The window size of a 'window'
    function is the host's `_ckb_window_size` (None if it declares none)."""
    model_type = getattr(getattr(host, "config", None), "model_type", None)
    if model_type not in TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING:
        raise ValueError(
            f"No default interface target for {type(host).__name__} (model_type {model_type!r}): set "
            f"InterfaceConfig.target_module (and function_kind). Known model types: "
            f"{sorted(TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING)}.")
    path, kind = TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING[model_type]
    prefix = getattr(host, "base_model_prefix", "")
    if prefix and isinstance(getattr(host, prefix, None), nn.Module):  # a model with a head around its base model
        path = f"{prefix}.{path}"
    return path, kind, getattr(host, "_ckb_window_size", None) if kind == "window" else None


def input_embeddings(host: nn.Module) -> nn.Module | None:
    """`host`'s word embeddings as it declares them (`get_input_embeddings`), or None if it declares none."""
    try:
        return host.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        return None


def embeddings_target(host: nn.Module) -> str:
    """The module path of `host`'s word embeddings (`get_input_embeddings`), for a `lookup` interface:
    `InterfaceConfig(target_module=embeddings_target(host), function_kind="lookup")`."""
    embeddings = input_embeddings(host)
    path = next((name for name, module in host.named_modules() if module is embeddings and name), None)
    if path is None:
        raise ValueError(f"{type(host).__name__} declares no input embeddings (get_input_embeddings): set "
                         "InterfaceConfig.target_module to its nn.Embedding.")
    return path
