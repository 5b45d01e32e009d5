"""The paper's three small networks (GRU "RNN", Kim CNN, small Transformer "ANN") as `transformers` models.

Every model is `embeddings -> function -> (pooling) -> dropout -> classifier`. The *function* is the submodule a CKB
interface imitates; its attribute name and call convention are a contract (`_ckb_target_module`):

- RNN: `states = self.gru(x)[0]`  (B, T, E) -> (B, T, H)
- CNN: `feats = self.convs(x)`  (B, T, E) -> (B, T, num_filters * len(window_sizes))
- ANN: `states = self.encoder(x, attention_mask)`  (B, T, H), (B, T) -> (B, T, H)

`x = self.embeddings(input_ids) * mask[..., None]`, so padded positions enter the function as exact zeros.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput

from .configuration_networks import ANNConfig, CKBNetworkConfig, CNNConfig, RNNConfig


class ConvWindows(nn.Module):
    r"""
    Same-length, end-padded convolutions of a Kim CNN: for each window size `w`, the feature at position `t` is
    `relu(conv(x[t : t + w]))`, with `x` zero-padded at the end by `w - 1` rows so every position has a window.

    Args:
        config ([`CNNConfig`]): gives `embedding_size`, `window_sizes` and `num_filters`.
    """

    def __init__(self, config: CNNConfig):
        super().__init__()
        self.window_sizes = list(config.window_sizes)
        self.filters = nn.ModuleList(
            nn.Conv1d(config.embedding_size, config.num_filters, kernel_size=w) for w in self.window_sizes
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps `x` (B, T, E) to window features (B, T, num_filters * len(window_sizes)), in `window_sizes` order."""
        x = x.transpose(1, 2)  # (B, E, T)
        feats = [F.relu(conv(F.pad(x, (0, w - 1)))) for w, conv in zip(self.window_sizes, self.filters)]
        return torch.cat(feats, dim=1).transpose(1, 2)  # (B, T, F * len(window_sizes))


class ANNEmbeddings(nn.Module):
    r"""
    BERT-like embeddings: word + learned absolute position embeddings, then LayerNorm and dropout.

    Args:
        config ([`ANNConfig`]): gives the vocabulary, `hidden_size`, `max_position_embeddings` and dropout.
    """

    def __init__(self, config: ANNConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """Maps `input_ids` (B, T) to embeddings (B, T, hidden_size)."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)  # (B, T, H)
        return self.dropout(self.LayerNorm(x))


class TransformerStack(nn.Module):
    r"""
    `num_hidden_layers` post-LN Transformer encoder layers (GELU feed-forward) with a key padding mask.

    Args:
        config ([`ANNConfig`]): gives the layer widths, heads, depth and dropout.
    """

    def __init__(self, config: ANNConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model=config.hidden_size,
                nhead=config.num_attention_heads,
                dim_feedforward=config.intermediate_size,
                dropout=config.hidden_dropout_prob,
                activation="gelu",
                layer_norm_eps=config.layer_norm_eps,
                batch_first=True,
                norm_first=False,
            )
            for _ in range(config.num_hidden_layers)
        )

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Maps `hidden_states` (B, T, H) with `attention_mask` (B, T) of 1 (token) / 0 (padding) to (B, T, H)."""
        padding_mask = attention_mask == 0  # (B, T), True = ignored key
        for layer in self.layers:
            hidden_states = layer(hidden_states, src_key_padding_mask=padding_mask)
        return hidden_states


class CKBNetworkPreTrainedModel(PreTrainedModel):
    r"""
    Shared body of the three networks: embeddings, the function module, dropout and a linear classifier.

    Subclasses build `self.embeddings` and the function module in `_build_function` and say how to run it in
    `_apply_function`; the head mixins ([`SequenceClassificationHead`], [`TokenClassificationHead`]) say how states
    become logits and a loss.
    """

    config_class = CKBNetworkConfig
    base_model_prefix = "ckb_network"
    main_input_name = "input_ids"
    _ckb_target_module: str = ""
    _ckb_function_kind: str = ""

    def __init__(self, config: CKBNetworkConfig):
        super().__init__(config)
        self._build_function(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def _build_function(self, config: CKBNetworkConfig) -> None:
        """Creates `self.embeddings` and the function module named `self._ckb_target_module`."""
        raise NotImplementedError

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embeddings (transformers' accessor: `resize_token_embeddings` and embedding copies use it)."""
        return getattr(self.embeddings, "word_embeddings", self.embeddings)

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        if isinstance(self.embeddings, nn.Embedding):
            self.embeddings = value
        else:
            self.embeddings.word_embeddings = value

    def _apply_function(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Runs the function module on masked embeddings `x` (B, T, E); returns per-position states (B, T, H)."""
        raise NotImplementedError

    def _pool(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pools per-position states (B, T, H) into one vector per example (B, H)."""
        raise NotImplementedError

    def _classify(
        self, states: torch.Tensor, mask: torch.Tensor, labels: torch.LongTensor | None
    ) -> SequenceClassifierOutput | TokenClassifierOutput:
        """Turns per-position states (B, T, H) into logits and, with `labels`, a loss (given by the head mixin)."""
        raise NotImplementedError

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Normal(0, `initializer_range`) for linear/conv/embedding, unit LayerNorm, PyTorch's default for the GRU."""
        super()._init_weights(module)
        if isinstance(module, nn.GRU):
            bound = 1.0 / math.sqrt(module.hidden_size)
            for param in module.parameters():
                init.uniform_(param, -bound, bound)

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | TokenClassifierOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                Token ids, right-padded.
            attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*):
                1 for real tokens, 0 for padding. `None` means all ones.
            labels (`torch.LongTensor`, *optional*):
                Class ids, `(batch_size,)` for sequence and `(batch_size, sequence_length)` for token
                classification (-100 = ignored). When given, the output carries the cross-entropy `loss`.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embeddings = self.embeddings(input_ids)  # (B, T, E)
        mask = attention_mask.to(embeddings.dtype)  # (B, T)
        states = self._apply_function(embeddings * mask[..., None], mask)  # (B, T, H)
        return self._classify(states, mask, labels)


class SequenceClassificationHead:
    """Head mixin: pool the states over valid positions, classify each example."""

    def _classify(
        self, states: torch.Tensor, mask: torch.Tensor, labels: torch.LongTensor | None
    ) -> SequenceClassifierOutput:
        logits = self.classifier(self.dropout(self._pool(states, mask)))  # (B, num_labels)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, labels.to(logits.device).view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


class TokenClassificationHead:
    """Head mixin: classify every position; padded positions are ignored by the loss."""

    def _classify(
        self, states: torch.Tensor, mask: torch.Tensor, labels: torch.LongTensor | None
    ) -> TokenClassifierOutput:
        logits = self.classifier(self.dropout(states))  # (B, T, num_labels)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device).masked_fill(mask == 0, -100)  # (B, T)
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return TokenClassifierOutput(loss=loss, logits=logits)


class RNNPreTrainedModel(CKBNetworkPreTrainedModel):
    """Word embeddings and one unidirectional GRU layer; pools the state at the last valid position."""

    config_class = RNNConfig
    base_model_prefix = "ckb_rnn"
    _ckb_target_module = "gru"
    _ckb_function_kind = "recurrent"

    def _build_function(self, config: RNNConfig) -> None:
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.gru = nn.GRU(config.embedding_size, config.hidden_size, batch_first=True)

    def _apply_function(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[0]  # (B, T, H)

    def _pool(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        last = (mask.sum(1).long() - 1).clamp(min=0)  # (B,)
        return states[torch.arange(states.shape[0], device=states.device), last]  # (B, H)


class CNNPreTrainedModel(CKBNetworkPreTrainedModel):
    """Word embeddings and end-padded window convolutions with ReLU; max-pools the features over valid positions."""

    config_class = CNNConfig
    base_model_prefix = "ckb_cnn"
    _ckb_target_module = "convs"
    _ckb_function_kind = "window"

    @property
    def _ckb_window_size(self) -> int:
        """Number of input rows one output position of `self.convs` depends on."""
        return self.config.max_window

    def _build_function(self, config: CNNConfig) -> None:
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.convs = ConvWindows(config)

    def _apply_function(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        feats = self.convs(x)  # (B, T, F * len(window_sizes))
        return feats * mask[..., None]

    def _pool(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # ReLU features are >= 0 and padded positions are zeroed, so padding never changes the max.
        return states.max(dim=1).values  # (B, H)


class ANNPreTrainedModel(CKBNetworkPreTrainedModel):
    """BERT-like embeddings and a small post-LN Transformer encoder; mean-pools over valid positions."""

    config_class = ANNConfig
    base_model_prefix = "ckb_ann"
    _ckb_target_module = "encoder"
    _ckb_function_kind = "sequence"

    def _build_function(self, config: ANNConfig) -> None:
        self.embeddings = ANNEmbeddings(config)
        self.encoder = TransformerStack(config)

    def _apply_function(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(x, mask)  # (B, T, H)

    def _pool(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        total = (states * mask[..., None]).sum(1)  # (B, H)
        return total / mask.sum(1, keepdim=True).clamp(min=1.0)


class RNNForSequenceClassification(SequenceClassificationHead, RNNPreTrainedModel):
    """GRU text classifier (the paper's RNN): logits from the state at the last valid position."""


class RNNForTokenClassification(TokenClassificationHead, RNNPreTrainedModel):
    """GRU tagger: logits from the GRU state at every position."""


class CNNForSequenceClassification(SequenceClassificationHead, CNNPreTrainedModel):
    """Kim CNN text classifier: logits from the max-pooled window features."""


class CNNForTokenClassification(TokenClassificationHead, CNNPreTrainedModel):
    """CNN tagger: logits from the window features at every position."""


class ANNForSequenceClassification(SequenceClassificationHead, ANNPreTrainedModel):
    """Small Transformer text classifier (the paper's ANN): logits from the mean of the encoder states."""


class ANNForTokenClassification(TokenClassificationHead, ANNPreTrainedModel):
    """Small Transformer tagger: logits from the encoder state at every position."""


__all__ = [
    "ConvWindows",
    "ANNEmbeddings",
    "TransformerStack",
    "CKBNetworkPreTrainedModel",
    "RNNPreTrainedModel",
    "CNNPreTrainedModel",
    "ANNPreTrainedModel",
    "RNNForSequenceClassification",
    "RNNForTokenClassification",
    "CNNForSequenceClassification",
    "CNNForTokenClassification",
    "ANNForSequenceClassification",
    "ANNForTokenClassification",
]
