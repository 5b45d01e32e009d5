"""The paper's three small networks (GRU, Kim CNN, small Transformer) as `transformers` models.

Importing this package registers their configs and models with `AutoConfig`,
`AutoModelForSequenceClassification` and `AutoModelForTokenClassification`.
"""

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

from . import configuration_networks, modeling_networks

from .configuration_networks import ANNConfig, CKBNetworkConfig, CNNConfig, RNNConfig
from .modeling_networks import (
    ANNEmbeddings,
    ANNForSequenceClassification,
    ANNForTokenClassification,
    ANNPreTrainedModel,
    CKBNetworkPreTrainedModel,
    CNNForSequenceClassification,
    CNNForTokenClassification,
    CNNPreTrainedModel,
    ConvWindows,
    RNNForSequenceClassification,
    RNNForTokenClassification,
    RNNPreTrainedModel,
    TransformerStack,
)

_REGISTRY = (
    (RNNConfig, RNNForSequenceClassification, RNNForTokenClassification),
    (CNNConfig, CNNForSequenceClassification, CNNForTokenClassification),
    (ANNConfig, ANNForSequenceClassification, ANNForTokenClassification),
)


def _register_auto_classes() -> None:
    """Registers the configs and models with the Auto classes; safe to call more than once."""
    for config_class, sequence_model, token_model in _REGISTRY:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModelForSequenceClassification.register(config_class, sequence_model, exist_ok=True)
        AutoModelForTokenClassification.register(config_class, token_model, exist_ok=True)


_register_auto_classes()

__all__ = [*configuration_networks.__all__, *modeling_networks.__all__]
