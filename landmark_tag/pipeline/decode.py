"""Stage 3: turn a photo file into the model's input tensor.

The cheap path comes first: JPEG draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale, which is
several times faster on camera photos, and is exact enough since we shrink to 256 px anyway.
Orientation from EXIF is applied before cropping, and every image mode ends up as 8-bit RGB.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms import v2 as transforms

from landmark_tag.checkpoint import Preprocessing

# Pillow refuses images over twice this many pixels; we check the same bound ourselves, per decoder,
# instead of changing Pillow's process-wide setting.
DEFAULT_MAX_PIXELS = 2 * 89_478_485


class DecodeError(Exception):
    """A photo that cannot be turned into pixels; the message is meant for the output's error column."""


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # HEIC photos then fail with a clear "not a recognised image" error
        return
    register_heif_opener()


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: transparency onto white, 16/32-bit scaled down, CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's own conversion clips these at 255, turning most 16-bit photos white.
        array = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        scaled = np.clip(array / peak * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa")
    if has_alpha or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


_INTERPOLATION = {
    "bicubic": transforms.InterpolationMode.BICUBIC,
    "bilinear": transforms.InterpolationMode.BILINEAR,
    "nearest": transforms.InterpolationMode.NEAREST,
}


def interpolation_mode(name: str) -> transforms.InterpolationMode:
    try:
        return _INTERPOLATION[name]
    except KeyError:
        raise ValueError(f"unknown interpolation {name!r}: use {', '.join(_INTERPOLATION)}") from None


def eval_transform(preprocessing: Preprocessing) -> transforms.Compose:
    """The deterministic evaluation transform: resize short side, centre crop, normalise."""
    interpolation = interpolation_mode(preprocessing.interpolation)
    return transforms.Compose(
        [
            # Resize and crop run on the PIL image, whose resampling is faster than on uint8 tensors.
            transforms.Resize(preprocessing.resize_size, interpolation=interpolation, antialias=True),
            transforms.CenterCrop(preprocessing.input_size),
            transforms.PILToTensor(),
            transforms.ToDtype(torch.float32, scale=True),
            transforms.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )


@dataclass
class PhotoDecoder:
    """Opens, orients and preprocesses photos for one model's preprocessing."""

    preprocessing: Preprocessing
    max_pixels: int = DEFAULT_MAX_PIXELS
    use_draft: bool = True
    transform: transforms.Compose = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _register_heif()
        self.transform = eval_transform(self.preprocessing)

    def open(self, source: str | BinaryIO) -> Image.Image:
        """Open a photo lazily (header only) and refuse decompression bombs before any decoding."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(source)
        except Image.DecompressionBombError as exc:
            raise DecodeError(f"image too large, refused as a possible decompression bomb ({exc})") from None
        except UnidentifiedImageError:
            raise DecodeError("not a recognised image format") from None
        except OSError as exc:
            raise DecodeError(describe_os_error(exc)) from None
        width, height = image.size
        if width * height > self.max_pixels:
            image.close()
            raise DecodeError(
                f"image too large: {width}x{height} pixels is over the {self.max_pixels:,} pixel limit "
                "(refused as a possible decompression bomb)"
            )
        if self.use_draft and image.format == "JPEG":
            # Scale to the largest 1/2^n that still covers the resize target on the short side.
            side = self.preprocessing.resize_size
            image.draft("RGB", (side, side))
        return image

    def oriented(self, image: Image.Image) -> Image.Image:
        """Decode an opened photo's pixels and turn them upright as its EXIF orientation says."""
        try:
            image.load()
            return ImageOps.exif_transpose(image) or image
        except OSError as exc:
            raise DecodeError(f"corrupt or truncated image: {exc}") from None
        except (ValueError, SyntaxError, MemoryError) as exc:
            raise DecodeError(f"cannot decode image: {exc}") from None

    def pixels(self, image: Image.Image) -> torch.Tensor:
        """Decode an opened photo into a normalised CHW float tensor."""
        return self.transform(to_rgb(self.oriented(image)))

    def __call__(self, source: str | BinaryIO) -> torch.Tensor:
        with self.open(source) as image:
            return self.pixels(image)


def describe_os_error(exc: OSError) -> str:
    """A short, readable reason for a failed file operation."""
    if isinstance(exc, FileNotFoundError):
        return "file not found (removed after it was discovered?)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return f"cannot read file: {exc.strerror or exc}"
