"""Stage 3: turn a photo file into the model's input tensor.

The cheap path comes first: JPEG draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale, which is
several times faster on camera photos, and is exact enough since we shrink to 256 px anyway.
Orientation from EXIF is applied before cropping, and every image mode ends up as 8-bit RGB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import torch
from PIL import Image

from landmark_tag.checkpoint import Preprocessing
from landmark_tag.images import DEFAULT_MAX_PIXELS, open_image, oriented, register_heif, to_rgb
from landmark_tag.transforms import eval_transform


@dataclass
class PhotoDecoder:
    """Opens, orients and preprocesses photos for one model's preprocessing."""

    preprocessing: Preprocessing
    max_pixels: int = DEFAULT_MAX_PIXELS
    use_draft: bool = True
    dtype: torch.dtype = torch.float32  # of the tensors made; see Predictor.input_dtype
    transform: Callable[[Image.Image], torch.Tensor] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        register_heif()
        self.transform = eval_transform(self.preprocessing)

    def open(self, source: str | BinaryIO) -> Image.Image:
        """Open a photo lazily; JPEGs decode at the smallest scale that covers the resize target."""
        draft_size = self.preprocessing.resize_size if self.use_draft else None
        return open_image(source, self.max_pixels, draft_size)

    def pixels(self, image: Image.Image) -> torch.Tensor:
        """Decode an opened photo into a normalised CHW tensor of `dtype`."""
        return self.transform(to_rgb(oriented(image))).to(self.dtype)

    def __call__(self, source: str | BinaryIO) -> torch.Tensor:
        with self.open(source) as image:
            return self.pixels(image)
