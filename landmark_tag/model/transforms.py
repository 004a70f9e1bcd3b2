"""The model's input transforms, kept together (as torchvision's classification `presets.py`):
training augmentation, and the deterministic evaluation transform in its two forms, on Pillow
images (the scan's decode workers, and training's evaluation) and on uint8 tensors (`--gpu-decode`).
Each follows a checkpoint's `Preprocessing`, so training and the scan cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2 as transforms
from torchvision.transforms.functional import pil_modes_mapping

from landmark_tag.model.preprocessing import Preprocessing

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


# Enlarging a small image whole (torchvision's pixels exactly) is allowed up to this many pixels:
# 16 times the usual 256x256, so any photo of ordinary shape, whatever its size.
MAX_ENLARGED_PIXELS = 16 * 256 * 256


@dataclass(frozen=True)
class ResizeAndCrop:
    """The evaluation transform's first half, Pillow image to Pillow image: resize the short side to
    `resize_size`, then take the centre `input_size` square, as torchvision's Resize and CenterCrop
    do on a Pillow image (the same sizes and offsets, the same Pillow resampling). Only the square is
    resampled, from the whole image's pixels (Pillow's resize with a box), which gives the same
    pixels in half the time on web-sized photos. (Preprocessing keeps resize_size >= input_size.)"""

    preprocessing: Preprocessing

    def __call__(self, image: Image.Image) -> Image.Image:
        resize, crop = self.preprocessing.resize_size, self.preprocessing.input_size
        width, height = image.size
        # torchvision's sizes: the short side to `resize`, the long one scaled and truncated.
        if width <= height:
            resized_width, resized_height = resize, int(resize * height / width)
        else:
            resized_width, resized_height = int(resize * width / height), resize
        left, top = round((resized_width - crop) / 2), round((resized_height - crop) / 2)
        resampling = pil_modes_mapping[interpolation_mode(self.preprocessing.interpolation)]
        if min(width, height) < resize and resized_width * resized_height <= MAX_ENLARGED_PIXELS:
            # Enlarged (a small image, cheap either way): Pillow's box then rounds a few pixels
            # differently, so resize all of it and crop, as torchvision does. Not an image of
            # extreme shape, though: a 30000x1 PNG enlarged whole would be 7,680,000x256 pixels
            # (about 6 GB); through the box, only the square is made.
            resized = image.resize((resized_width, resized_height), resampling)
            return resized.crop((left, top, left + crop, top + crop))
        x_scale, y_scale = width / resized_width, height / resized_height
        box = (left * x_scale, top * y_scale, (left + crop) * x_scale, (top + crop) * y_scale)
        return image.resize((crop, crop), resampling, box=box)


@dataclass(frozen=True)
class Normalise:
    """The evaluation transform's second half: an 8-bit RGB Pillow image to a normalised float CHW
    tensor, with torchvision's arithmetic (x * (1/255), - mean, / std, in float32) to the bit, but
    in place on one contiguous tensor, a third of the time. To the bit, because an int8 model
    rounds its input to a grid on which 8-bit pixels fall at exact midpoints: a last-bit change of
    many inputs moved one validation photo's top-1 and failed the int8 check (`tests/test_transforms.py`
    holds it to the bit)."""

    preprocessing: Preprocessing

    def __call__(self, image: Image.Image) -> torch.Tensor:
        mean = torch.tensor(self.preprocessing.mean).view(3, 1, 1)
        std = torch.tensor(self.preprocessing.std).view(3, 1, 1)
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)  # HWC bytes, seen as CHW
        normalised = torch.empty(pixels.shape).copy_(pixels)
        return normalised.mul_(1.0 / 255).sub_(mean).div_(std)


def eval_transform(preprocessing: Preprocessing) -> transforms.Compose:
    """The deterministic evaluation transform: resize short side, centre crop, normalise. A Compose,
    not a closure: it must pickle, for decode workers started by spawn (macOS, Windows) and Ray."""
    return transforms.Compose([ResizeAndCrop(preprocessing), Normalise(preprocessing)])


def tensor_eval_transform(preprocessing: Preprocessing) -> transforms.Compose:
    """`eval_transform` for uint8 CHW tensors (decoded on a GPU): the same resize, crop and
    normalisation, resampled in float."""
    return transforms.Compose(
        [
            # Resampled in float: bicubic resizing of uint8 tensors is not implemented on CUDA.
            transforms.ToDtype(torch.float32, scale=True),
            transforms.Resize(
                preprocessing.resize_size,
                interpolation=interpolation_mode(preprocessing.interpolation),
                antialias=True,
            ),
            transforms.CenterCrop(preprocessing.input_size),
            transforms.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )


def train_transform(preprocessing: Preprocessing) -> transforms.Compose:
    """Augmentation for training: random crops, flips and colour jitter; evaluation stays deterministic."""
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(
                preprocessing.input_size,
                scale=(0.35, 1.0),
                interpolation=interpolation_mode(preprocessing.interpolation),
                antialias=True,
            ),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(0.3, 0.3, 0.3, 0.05),
            transforms.PILToTensor(),
            transforms.ToDtype(torch.float32, scale=True),
            transforms.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )
