"""The model's input transforms, kept together (as torchvision's classification `presets.py`):
training augmentation, and the deterministic evaluation transform in its two forms, on Pillow
images (the scan's decode workers, and training's evaluation) and on uint8 tensors (`--gpu-decode`).
Each follows a checkpoint's `Preprocessing`, so training and the scan cannot drift apart.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2 as transforms

from landmark_tag.checkpoint import Preprocessing

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


def crop_transform(preprocessing: Preprocessing) -> transforms.Compose:
    """The evaluation transform's first half, Pillow image to Pillow image: resize short side, centre
    crop. (Resampling a PIL image is faster than resampling a uint8 tensor.)"""
    interpolation = interpolation_mode(preprocessing.interpolation)
    return transforms.Compose(
        [
            transforms.Resize(preprocessing.resize_size, interpolation=interpolation, antialias=True),
            transforms.CenterCrop(preprocessing.input_size),
        ]
    )


def normalise_transform(preprocessing: Preprocessing) -> transforms.Compose:
    """The evaluation transform's second half: a cropped Pillow image to a normalised float tensor."""
    return transforms.Compose(
        [
            transforms.PILToTensor(),
            transforms.ToDtype(torch.float32, scale=True),
            transforms.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )


def eval_transform(preprocessing: Preprocessing) -> transforms.Compose:
    """The deterministic evaluation transform: resize short side, centre crop, normalise."""
    return transforms.Compose([crop_transform(preprocessing), normalise_transform(preprocessing)])


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
