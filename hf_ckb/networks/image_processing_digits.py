"""`DigitsImageProcessor`: images -> the pixel tokens `DigitsForImageClassification` reads (`AutoImageProcessor`).

Each image is converted to grayscale, resized to `size` x `size` (bilinear; a digit of another size is resized, not
refused), its intensities quantised to `levels` levels, and read in raster order: token id = level + 1 (0 is
padding). scikit-learn's digits, stored as 8-bit images of their 17 levels (`hf_ckb.data.load_digits_dataset`),
come back exactly.
"""

from __future__ import annotations

import numpy as np
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from .digits import LEVELS


class DigitsImageProcessor(BaseImageProcessor):
    r"""
    Args:
        size (`int`, *optional*, defaults to 8): the side images are resized to.
        levels (`int`, *optional*, defaults to 17): intensity levels a pixel is quantised to.
    """

    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, size: int = 8, levels: int = LEVELS, **kwargs):
        super().__init__(**kwargs)
        self.size, self.levels = size, levels

    def preprocess(self, images, return_tensors=None, **kwargs) -> BatchFeature:
        """`images`: a PIL image or a uint8 array `(H, W)` / `(H, W, C)`, or a list of them. Returns `input_ids` and
        `attention_mask`, `(N, size * size)`."""
        images = list(images) if isinstance(images, (list, tuple)) else [images]
        if not images:
            raise ValueError("No images to process.")
        ids = np.stack([self.pixel_ids(image) for image in images])
        return BatchFeature({"input_ids": ids, "attention_mask": np.ones_like(ids)}, tensor_type=return_tensors)

    def pixel_ids(self, image) -> np.ndarray:
        """The `size * size` token ids of one image."""
        from PIL import Image

        if isinstance(image, np.ndarray):
            if image.dtype != np.uint8 or image.ndim not in (2, 3):
                raise ValueError(f"An image array must be uint8 of shape (H, W) or (H, W, C), got {image.dtype} "
                                 f"{image.shape}.")
            image = Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image)
        if not isinstance(image, Image.Image):
            raise TypeError(f"Expected a PIL image or a uint8 array, got {type(image).__name__}: is this column "
                            "text rather than images?")
        gray = np.asarray(image.convert("L").resize((self.size, self.size), Image.BILINEAR), dtype=np.float64)
        levels = np.rint(gray / 255.0 * (self.levels - 1)).astype(np.int64)
        return levels.reshape(-1) + 1


__all__ = ["DigitsImageProcessor"]
