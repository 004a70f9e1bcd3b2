"""The end of `train`: the calibration photos the checkpoint carries, and the portable int8 model
built from them, which the checkpoint carries too when it passed its check, so that no scan needs
to search for one."""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

from landmark_tag.files.images import DecodeError, load_rgb, register_heif
from landmark_tag.host.device import cpu_has_fast_bf16
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


def int8_skip_reason(wanted: bool | None) -> str | None:
    """Why `train` builds no portable int8 (`--no-int8`, or auto on a CPU whose scans run bf16), or
    None when it builds one."""
    if wanted is False:
        return "not asked for (--no-int8)"
    if wanted is None and cpu_has_fast_bf16():
        return "scans on this CPU run bf16 (--int8 builds one to carry to CPUs without native bf16)"
    return None


def carry_int8(checkpoint: Path) -> Int8Check | None:
    """Build the checkpoint's portable int8 model (see `runtime.portable_int8`) and, when it passed
    its check, write it into the checkpoint; return its check, or None where none could be built."""
    from landmark_tag.runtime import quantize

    logger.info(
        "building the int8 model the checkpoint will carry, checked under AVX2's arithmetic so that "
        "it suits any CPU (minutes for EfficientNet-Lite0 on 2 cores)"
    )
    # The thorough search after a failed quick one: minutes are cheap beside training's own.
    portable = build_portable_int8(checkpoint, (quantize.QUICK, quantize.THOROUGH))
    if portable is None:
        return None
    check = Int8Check(**portable.details["check"])
    if check.passed:
        attach_portable_int8(checkpoint, portable)
    return check
