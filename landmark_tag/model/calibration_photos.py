"""Small crops of real photos that a checkpoint carries, so that an int8 model can be built and
checked on any machine, on first use, without the training data.

`train` stores, as 224 px JPEGs (the model's input crop, about 15 KB each): up to MAX_CALIBRATION
training photos, to calibrate int8's ranges; up to MAX_VALIDATION validation photos, on which int8
must give the same answers as fp32 (`runtime.int8_check`); and up to MAX_NEGATIVES photos of no
landmark, when training had them, for the landmark score's side of that check. A checkpoint
therefore contains small copies of these photos: share it as you would share them.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from landmark_tag.model.preprocessing import Preprocessing

MAX_CALIBRATION = 200
MAX_VALIDATION = 300
MAX_NEGATIVES = 100
JPEG_QUALITY = 90


@dataclass
class CalibrationPhotos:
    """Input crops as JPEG bytes (uint8 tensors, which a weights-only checkpoint may hold)."""

    calibration: list[torch.Tensor] = field(default_factory=list)  # training photos
    validation: list[torch.Tensor] = field(default_factory=list)
    negatives: list[torch.Tensor] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[torch.Tensor]]:
        return {"calibration": self.calibration, "validation": self.validation, "negatives": self.negatives}

    @classmethod
    def from_dict(cls, data: dict[str, list[torch.Tensor]]) -> CalibrationPhotos:
        return cls(
            calibration=list(data.get("calibration", [])),
            validation=list(data.get("validation", [])),
            negatives=list(data.get("negatives", [])),
        )

    @property
    def usable(self) -> bool:
        """Enough to build and check an int8 model: calibration and validation photos."""
        return bool(self.calibration) and bool(self.validation)

    def pixels(self, part: str, preprocessing: Preprocessing) -> torch.Tensor:
        """(n, 3, size, size) normalised model inputs for `part`: calibration, validation or negatives."""
        from landmark_tag.model.transforms import Normalise  # torchvision: only where pixels are made

        normalise = Normalise(preprocessing)
        crops = getattr(self, part)
        if not crops:
            size = preprocessing.input_size
            return torch.empty(0, 3, size, size)
        return torch.stack([normalise(decode_crop(crop)) for crop in crops])


def encode_crop(image: Image.Image) -> torch.Tensor:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)


def decode_crop(crop: torch.Tensor) -> Image.Image:
    with Image.open(io.BytesIO(crop.numpy().tobytes())) as image:
        return image.convert("RGB")


def pick(count: int, limit: int, seed: int) -> list[int]:
    """Up to `limit` of `count` items, a seeded random choice, in their original order."""
    chosen = list(range(count))
    if count > limit:
        chosen = sorted(random.Random(seed).sample(chosen, limit))
    return chosen


def crops_of(paths: Sequence[str], load_crop: Callable[[str], Image.Image | None]) -> list[torch.Tensor]:
    """Encoded crops of the photos that `load_crop` can read (it returns None for one it cannot)."""
    crops = []
    for path in paths:
        image = load_crop(path)
        if image is not None:
            crops.append(encode_crop(image))
    return crops
