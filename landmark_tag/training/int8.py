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
from landmark_tag.pipeline.decode import DecodeError, PhotoDecoder, to_rgb
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
    decoder = PhotoDecoder(preprocessing)
    crop = crop_transform(preprocessing)

    def load_crop(path: str) -> Image.Image | None:
        try:
            with decoder.open(path) as image:
                return crop(to_rgb(decoder.oriented(image)))
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

    try:
        return int8_model(load_model(checkpoint)).check
    except RuntimeUnavailable as exc:
        logger.warning("%s: no int8 model was built", exc)
        return None
