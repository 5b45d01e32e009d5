"""A small image classifier for scikit-learn's 8x8 handwritten digits, as a `transformers` model (issue 12 §2).

The paper's joint import (§2.4) allows "the input to the feed-forward neural network [to] be an image and the input
to the convolutional neural network [to] be a natural language sentence". This is that image network: the paper's
small Transformer ("ANN") reading an image as a sequence of 64 pixel tokens, in raster order, with learned positions.
A pixel's token is its intensity level, as ImageGPT's image processor turns pixels into colour-cluster ids: the
digits are 17-level images (0..16), so the levels are the vocabulary and nothing is lost. Id 0 is padding (never
produced for an image), a level `v` is id `v + 1`.

Because its inputs are token ids, an image network runs through every part of hf_ckb as the text networks do
(import, export, knockout, inspect); `DigitsImageProcessor` (`AutoImageProcessor`) turns images into those ids.
"""

from huggingface_hub.dataclasses import strict

from .configuration_networks import ANNConfig
from .modeling_networks import ANNForSequenceClassification

LEVELS = 17  # intensity levels of the digits (0..16)


@strict
class DigitsConfig(ANNConfig):
    r"""
    Configuration of [`DigitsForImageClassification`]: an [`ANNConfig`] sized for 8x8 images of `LEVELS` levels
    (`vocab_size` = levels + 1 for the padding id 0, one position per pixel), ten classes.

    Args:
        image_size (`int`, *optional*, defaults to 8): the side of the square images, in pixels.
        levels (`int`, *optional*, defaults to 17): intensity levels a pixel is quantised to.
    """

    model_type = "ckb_digits"

    image_size: int = 8
    levels: int = LEVELS
    vocab_size: int = LEVELS + 1
    hidden_size: int = 64
    intermediate_size: int = 128
    num_attention_heads: int = 4
    max_position_embeddings: int = 64

    def __post_init__(self, **kwargs):
        kwargs.setdefault("num_labels", 10)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Part of `@strict`-powered validation: the vocabulary and positions must cover the images."""
        super().validate_architecture()
        if self.vocab_size < self.levels + 1 or self.max_position_embeddings < self.image_size**2:
            raise ValueError(f"A digits network needs vocab_size >= levels + 1 ({self.levels + 1}) and "
                             f"max_position_embeddings >= image_size^2 ({self.image_size**2}).")


class DigitsForImageClassification(ANNForSequenceClassification):
    """The paper's small Transformer over the pixel tokens of a digit (see the module docstring); its function, the
    encoder, is what an interface imitates, as for the text ANN."""

    config_class = DigitsConfig


__all__ = ["DigitsConfig", "DigitsForImageClassification", "LEVELS"]
