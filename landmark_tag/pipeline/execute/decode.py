"""Turn a photo file into the model's input tensor (and, with --gpu-decode, tell which large
JPEGs a decode worker leaves to the GPU: `wants_device_decode`).

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

from landmark_tag.files.images import DEFAULT_MAX_PIXELS, open_image, oriented, register_heif, to_rgb
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.model.transforms import eval_transform


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
        return self.tensor(to_rgb(oriented(image)))

    def tensor(self, upright: Image.Image) -> torch.Tensor:
        """A decoded, upright RGB picture as the model's normalised CHW tensor of `dtype`."""
        return self.transform(upright).to(self.dtype)

    def __call__(self, source: str | BinaryIO) -> torch.Tensor:
        with self.open(source) as image:
            return self.pixels(image)


# JPEGs this large (about 3 MP and up at usual qualities) go to the GPU; smaller ones decode fast
# enough on the CPU in draft mode, and their bytes would cost more to move than to decode.
DEVICE_DECODE_MIN_BYTES = 1 << 20
EXIF_ORIENTATION = 0x0112
# Wider or taller than this (a panorama is about 2:1 to 8:1) is decoded by Pillow, not on the GPU.
MAX_DEVICE_ASPECT = 16


def wants_device_decode(
    image: Image.Image, size_bytes: int, min_bytes: int = DEVICE_DECODE_MIN_BYTES
) -> bool:
    """Whether an opened (not yet decoded) photo should go to the GPU: a large YCbCr or greyscale
    JPEG. CMYK JPEGs stay with Pillow, which converts them properly, and so do images of extreme
    shape, which the GPU's transform would enlarge whole (Pillow's crops first)."""
    width, height = image.size
    ordinary_shape = max(width, height) <= MAX_DEVICE_ASPECT * min(width, height)
    return (
        image.format == "JPEG" and image.mode in ("RGB", "L") and size_bytes >= min_bytes and ordinary_shape
    )


def exif_orientation(image: Image.Image) -> int:
    """The photo's EXIF orientation (1-8; 1 when absent or invalid), read from the header only."""
    try:
        value = int(image.getexif().get(EXIF_ORIENTATION, 1))
    except (TypeError, ValueError, SyntaxError, OSError):
        return 1
    return value if 1 <= value <= 8 else 1
