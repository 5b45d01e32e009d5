"""Configurations of the paper's three small networks: a GRU ("RNN"), a Kim CNN and a small Transformer ("ANN")."""

from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class CKBNetworkConfig(PreTrainedConfig):
    r"""
    Fields shared by the three small networks (word embeddings, dropout before the classification head, init).
    `num_labels`, `id2label` and `label2id` come from [`PreTrainedConfig`].

    Args:
        vocab_size (`int`, *optional*, defaults to 8000):
            Size of the word vocabulary.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token; its embedding row is kept at zero.
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout applied to the features right before the classifier.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialiser of linear, convolution and embedding weights.
    """

    vocab_size: int = 8000
    pad_token_id: int | None = 0
    classifier_dropout: float | int = 0.1
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # `@strict` re-raises validator errors as `StrictDataclassClassValidationError`, which is not a `ValueError`;
        # run the architecture checks once here so a bad config raises a plain `ValueError` at construction.
        self.validate_architecture()

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the architecture of the config."""
        super().validate_architecture()
        if self.vocab_size <= 0:
            raise ValueError(f"`vocab_size` must be positive, got {self.vocab_size}.")
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"`classifier_dropout` must be in [0, 1), got {self.classifier_dropout}.")


@strict
class RNNConfig(CKBNetworkConfig):
    r"""
    Configuration of [`RNNForSequenceClassification`] / [`RNNForTokenClassification`]: word embeddings followed by
    one unidirectional GRU layer (the paper's "RNN").

    Args:
        embedding_size (`int`, *optional*, defaults to 256):
            Width of the word embeddings (the GRU input).
        hidden_size (`int`, *optional*, defaults to 256):
            Width of the GRU state (the classifier input).

    Example:

    ```python
    >>> from hf_ckb.networks import RNNConfig, RNNForSequenceClassification

    >>> config = RNNConfig(vocab_size=1000, num_labels=2)
    >>> model = RNNForSequenceClassification(config)
    ```"""

    model_type = "ckb_rnn"

    embedding_size: int = 256
    hidden_size: int = 256

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the architecture of the config."""
        super().validate_architecture()
        if self.embedding_size <= 0 or self.hidden_size <= 0:
            raise ValueError(
                f"`embedding_size` ({self.embedding_size}) and `hidden_size` ({self.hidden_size}) must be positive."
            )


@strict
class CNNConfig(CKBNetworkConfig):
    r"""
    Configuration of [`CNNForSequenceClassification`] / [`CNNForTokenClassification`]: word embeddings followed by
    one convolution per window size with ReLU (Kim, 2014), max-pooled over time for sequence classification.

    Args:
        embedding_size (`int`, *optional*, defaults to 256):
            Width of the word embeddings (the convolution input).
        window_sizes (`list[int]`, *optional*, defaults to `[3, 4, 5]`):
            Window (kernel) size of each convolution, in the order their features are concatenated.
        num_filters (`int`, *optional*, defaults to 80):
            Number of filters per window size.

    Example:

    ```python
    >>> from hf_ckb.networks import CNNConfig

    >>> CNNConfig(window_sizes=[2, 3], num_filters=10).hidden_size
    20
    ```"""

    model_type = "ckb_cnn"

    embedding_size: int = 256
    window_sizes: list[int] | tuple[int, ...] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 80

    def __post_init__(self, **kwargs):
        self.window_sizes = list(self.window_sizes)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the architecture of the config."""
        super().validate_architecture()
        if len(self.window_sizes) == 0 or min(self.window_sizes) <= 0:
            raise ValueError(f"`window_sizes` must be a non-empty list of positive ints, got {self.window_sizes}.")
        if self.embedding_size <= 0 or self.num_filters <= 0:
            raise ValueError(
                f"`embedding_size` ({self.embedding_size}) and `num_filters` ({self.num_filters}) must be positive."
            )

    @property
    def hidden_size(self) -> int:
        """Width of the concatenated window features (the classifier input)."""
        return self.num_filters * len(self.window_sizes)

    @property
    def max_window(self) -> int:
        """Largest window size: the number of input rows one output position depends on."""
        return max(self.window_sizes)


@strict
class ANNConfig(CKBNetworkConfig):
    r"""
    Configuration of [`ANNForSequenceClassification`] / [`ANNForTokenClassification`]: BERT-like embeddings (word +
    learned positions, LayerNorm, dropout) followed by a small post-LN Transformer encoder (the paper's "ANN").

    Args:
        hidden_size (`int`, *optional*, defaults to 256):
            Width of the embeddings and of the encoder layers.
        intermediate_size (`int`, *optional*, defaults to 1024):
            Width of the feed-forward block of each encoder layer.
        num_hidden_layers (`int`, *optional*, defaults to 1):
            Number of encoder layers.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Number of attention heads; must divide `hidden_size`.
        max_position_embeddings (`int`, *optional*, defaults to 512):
            Longest sequence the learned position embeddings cover.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout in the embeddings and inside the encoder layers.
        layer_norm_eps (`float`, *optional*, defaults to 1e-12):
            Epsilon of every LayerNorm.

    Example:

    ```python
    >>> from hf_ckb.networks import ANNConfig, ANNForSequenceClassification

    >>> model = ANNForSequenceClassification(ANNConfig(hidden_size=64, num_attention_heads=4))
    ```"""

    model_type = "ckb_ann"

    hidden_size: int = 256
    intermediate_size: int = 1024
    num_hidden_layers: int = 1
    num_attention_heads: int = 4
    max_position_embeddings: int = 512
    hidden_dropout_prob: float | int = 0.1
    layer_norm_eps: float = 1e-12

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the architecture of the config."""
        super().validate_architecture()
        if self.num_attention_heads <= 0 or self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.num_hidden_layers <= 0 or self.max_position_embeddings <= 0:
            raise ValueError(
                f"`num_hidden_layers` ({self.num_hidden_layers}) and `max_position_embeddings` "
                f"({self.max_position_embeddings}) must be positive."
            )


__all__ = ["CKBNetworkConfig", "RNNConfig", "CNNConfig", "ANNConfig"]
