"""How a photo becomes a model's input (resize, crop, normalise): part of every checkpoint, and read
by the transforms, the decode stage and the calibration photos. Plain data, with no torch, so that
all of them can import it without importing the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

# The ImageNet statistics most torchvision and timm backbones were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Preprocessing:
    """How a photo becomes the model's input: resize the short side, centre-crop, normalise."""

    input_size: int = 224
    resize_size: int = 256
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        if self.resize_size < self.input_size:
            raise ValueError("resize_size must be at least input_size")
