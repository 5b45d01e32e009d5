"""The paper's three small networks (GRU, Kim CNN, small Transformer) as `transformers` models, and an image network
for scikit-learn's digits (`digits.py`).

Importing this package registers their configs and models with `AutoConfig`,
`AutoModelForSequenceClassification` and `AutoModelForTokenClassification`; the digits network also with
`AutoModelForImageClassification` and its processor with `AutoImageProcessor`.
"""

from transformers import (AutoConfig, AutoImageProcessor, AutoModelForImageClassification,
                          AutoModelForSequenceClassification, AutoModelForTokenClassification)

from . import configuration_networks, digits, image_processing_digits, modeling_networks

from .configuration_networks import ANNConfig, CKBNetworkConfig, CNNConfig, RNNConfig
from .digits import DigitsConfig, DigitsForImageClassification
from .image_processing_digits import DigitsImageProcessor
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
    AutoConfig.register(DigitsConfig.model_type, DigitsConfig, exist_ok=True)
    AutoModelForImageClassification.register(DigitsConfig, DigitsForImageClassification, exist_ok=True)
    # hf_ckb loads every network as a sequence classifier (`hf_ckb.classifiers`): the digits network is one too
    AutoModelForSequenceClassification.register(DigitsConfig, DigitsForImageClassification, exist_ok=True)
    AutoImageProcessor.register(DigitsConfig, slow_image_processor_class=DigitsImageProcessor, exist_ok=True)


_register_auto_classes()

__all__ = [*configuration_networks.__all__, *modeling_networks.__all__, *digits.__all__[:2],
           *image_processing_digits.__all__]
