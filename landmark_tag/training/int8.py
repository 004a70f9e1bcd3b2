"""The end of `train`: the calibration photos the checkpoint carries, and the int8 model built from
them at once, so that the first scan need not build it and `train` can say whether it passed."""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

from landmark_tag.calibration_photos import (
    MAX_CALIBRATION,
    MAX_NEGATIVES,
    MAX_VALIDATION,
    CalibrationPhotos,
    crops_of,
    pick,
)
from landmark_tag.checkpoint import Preprocessing, load_model
from landmark_tag.device import cpu_has_fast_int8
from landmark_tag.images import DecodeError, load_rgb, register_heif
from landmark_tag.runtime.int8_check import Int8Check
from landmark_tag.training.data import ImageFolderIndex
from landmark_tag.transforms import crop_transform

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
    crop = crop_transform(preprocessing)

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


def build_int8(checkpoint: Path) -> Int8Check | None:
    """Build the checkpoint's OpenVINO fp32 and int8 models into the cache (see `runtime`) and return
    int8's check; None where OpenVINO cannot run here (the scan will then use PyTorch)."""
    from landmark_tag.runtime.openvino_model import RuntimeUnavailable, int8_model

    if not cpu_has_fast_int8():
        logger.info("this CPU has no int8 dot product (VNNI): scans here run fp32, so no int8 was built")
        return None
    try:
        # Thorough: minutes are cheap beside training's own, and the scans here then run what it found.
        return int8_model(load_model(checkpoint), thorough=True).check
    except RuntimeUnavailable as exc:
        logger.warning("%s: no int8 model was built", exc)
        return None
