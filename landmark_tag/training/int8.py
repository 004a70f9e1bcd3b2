"""The end of `train`: the calibration photos the checkpoint carries, and the portable int8 model
built from them, which the checkpoint carries too when it passed its check, so that no scan needs
to search for one."""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

from landmark_tag.files.images import DecodeError, load_rgb, register_heif
from landmark_tag.model.calibration_photos import (
    MAX_CALIBRATION,
    MAX_NEGATIVES,
    MAX_VALIDATION,
    CalibrationPhotos,
    crops_of,
    pick,
)
from landmark_tag.model.checkpoint import attach_portable_int8
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.model.transforms import ResizeAndCrop
from landmark_tag.runtime.int8_check import Int8Check
from landmark_tag.runtime.portable_int8 import build_portable_int8
from landmark_tag.training.data import ImageFolderIndex

logger = logging.getLogger(__name__)


def calibration_photos_for(
    train: ImageFolderIndex,
    valid: ImageFolderIndex,
    negatives: ImageFolderIndex | None,
    preprocessing: Preprocessing,
    seed: int,
) -> CalibrationPhotos:
    """Input crops of a seeded choice of training photos, the validation photos and the negatives
    (each up to its limit in `calibration_photos`), decoded as the scan decodes them."""
    register_heif()
    crop = ResizeAndCrop(preprocessing)

    def load_crop(path: str) -> Image.Image | None:
        try:
            return crop(load_rgb(path, preprocessing.resize_size))
        except DecodeError:
            return None  # already reported when training read it

    def crops(index: ImageFolderIndex | None, limit: int) -> list:
        if index is None:
            return []
        return crops_of([index.paths[i] for i in pick(len(index), limit, seed)], load_crop)

    return CalibrationPhotos(
        calibration=crops(train, MAX_CALIBRATION),
        validation=crops(valid, MAX_VALIDATION),
        negatives=crops(negatives, MAX_NEGATIVES),
    )


def int8_skip_reason(wanted: bool) -> str | None:
    """Why `train` builds no portable int8 (`--no-int8`), or None when it builds one."""
    return None if wanted else "not asked for (--no-int8); scans without native bf16 quantize their own"


def carry_int8(checkpoint: Path) -> Int8Check | None:
    """Build the checkpoint's portable int8 model (see `runtime.portable_int8`) and, when it passed
    its check, write it into the checkpoint; return its check, or None where none could be built."""
    from landmark_tag.runtime import quantize

    logger.info(
        "building the int8 model the checkpoint will carry, checked under AVX2's arithmetic so that "
        "it suits any CPU"
    )
    # Every search, in turn, while one fails: the longer ones are rare, and cheap beside training.
    portable = build_portable_int8(checkpoint, quantize.SEARCHES)
    if portable is None:
        return None
    check = Int8Check(**portable.details["check"])
    if check.passed:
        attach_portable_int8(checkpoint, portable)
    return check
