from pathlib import Path

import pytest
import torch

from landmark_tag.model.calibration_photos import CalibrationPhotos, encode_crop
from landmark_tag.model.checkpoint import PortableInt8, attach_portable_int8, load_model, save_checkpoint
from landmark_tag.model.openset import LandmarkScorer, build_bank, capture_features
from landmark_tag.runtime import int8_models
from tests.helpers import scene, write_tiny_checkpoint


def crops(count: int, seed: int, size: int = 64) -> list[torch.Tensor]:
    return [encode_crop(scene((size, size), seed=seed + i)) for i in range(count)]


@pytest.fixture
def calibrated_model(tmp_path) -> Path:
    """A tiny checkpoint with a landmark score and calibration photos, as `train` writes them."""
    path = write_tiny_checkpoint(tmp_path / "calibrated.pt")
    loaded = load_model(path)
    photos = CalibrationPhotos(calibration=crops(24, 0), validation=crops(12, 100), negatives=crops(6, 200))
    pixels = photos.pixels("calibration", loaded.spec.preprocessing)
    with torch.no_grad(), capture_features(loaded.model) as features:
        loaded.model(pixels)
    loaded.spec.landmark_scorer = LandmarkScorer(build_bank(features[0], torch.zeros(len(pixels))))
    save_checkpoint(path, loaded.spec, loaded.model.state_dict(), calibration_photos=photos)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache of this test's own: what it builds, and whether it rebuilds, is its alone."""
    root = tmp_path / "cache"
    monkeypatch.setenv("LANDMARK_TAG_CACHE", str(root))
    return root


def carry_as_portable_int8(checkpoint: Path, model_file: Path, check_passed: bool = True) -> None:
    """Write the OpenVINO model at `model_file` into `checkpoint` as its portable int8, the way
    `train` does. Any model serves: the scan checks whatever is carried against fp32."""
    details = {"search": "direct", "check": {"passed": check_passed}, "isa": "AVX2", "seconds": 1.0}
    xml, weights = model_file.read_bytes(), model_file.with_suffix(".bin").read_bytes()
    attach_portable_int8(checkpoint, PortableInt8(xml, weights, details))


def spy_on_searches(monkeypatch) -> list[str]:
    """The names of the int8 searches run from now on, in order."""
    searches: list[str] = []
    quantize_int8 = int8_models.quantize_int8

    def spying(loaded, fp32_file, reference, search, log_steps=False):
        searches.append(search.name)
        return quantize_int8(loaded, fp32_file, reference, search, log_steps)

    monkeypatch.setattr(int8_models, "quantize_int8", spying)
    return searches


def int8_verdict(monkeypatch, passed: bool) -> None:
    """Every int8 check from now on says `passed`, with its numbers as measured: the tiny random
    model's int8 decides as it happens to, and these tests are of what follows a verdict (the check
    itself: test_int8_check)."""
    check = int8_models.check_int8

    def decided(fp32, int8, thresholds):
        result = check(fp32, int8, thresholds)
        result.passed = passed
        return result

    monkeypatch.setattr(int8_models, "check_int8", decided)
