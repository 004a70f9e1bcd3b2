"""What running one model asks for, resolved once and without opening anything: the effective k,
the thresholds (as a `Judge`), runtime and precision. `resolve_scan` and `predict_landmarks` both
start here."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from landmark_tag.errors import ConfigError
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.pipeline.judge import Judge
from landmark_tag.runtime.runners import check_runtime

logger = logging.getLogger(__name__)


def resolve_min_confidence(loaded: LoadedModel, min_confidence: float | None) -> float:
    """The threshold to use: the one asked for, else the one stored in the checkpoint."""
    value = loaded.spec.min_confidence if min_confidence is None else min_confidence
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"min_confidence (--min-confidence) must be between 0 and 1, not {value}")
    return value


def resolve_min_landmark_score(loaded: LoadedModel, min_landmark_score: float | None) -> float | None:
    """The landmark-score threshold to use, or None for a model without a landmark score."""
    scorer = loaded.spec.landmark_scorer
    if scorer is None:
        if min_landmark_score is not None:
            raise ConfigError(
                f"a min_landmark_score (--min-landmark-score) was given, but {loaded.path} has no "
                "landmark score (it was trained before landmark-tag had one): retrain it to use it"
            )
        return None
    value = scorer.threshold if min_landmark_score is None else min_landmark_score
    if not -1.0 <= value <= 1.0:
        raise ConfigError(f"min_landmark_score (--min-landmark-score) must be between -1 and 1, not {value}")
    return value


def warn_without_landmark_score(loaded: LoadedModel) -> None:
    if loaded.spec.landmark_scorer is None:
        logger.warning(
            "%s has no landmark score (it was trained before landmark-tag had one), so photos that "
            "show no landmark cannot be told apart and none is marked no_landmark; retrain it with "
            "`landmark-tag train` to get one",
            loaded.path,
        )


@dataclass(frozen=True)
class InferenceSettings:
    """What running one model asks for, resolved and checked: see `resolve_inference`."""

    k: int  # the top-k kept, at most the model's number of classes
    judge: Judge  # the thresholds in force, and the landmarks' places
    labels: tuple[str, ...]  # display names, by class index
    runtime: str = "auto"  # as asked: each process resolves `auto` on its own hardware
    precision: str = "auto"


def resolve_inference(
    loaded: LoadedModel,
    k: int = 3,
    min_confidence: float | None = None,
    min_landmark_score: float | None = None,
    runtime: str = "auto",
    precision: str = "auto",
    device: torch.device | None = None,
) -> InferenceSettings:
    """The settings to run `loaded` with, every one checked; opens nothing. `device`: where the
    model will run, when known here (the runtime and precision are checked against it; a Ray
    cluster's devices are checked as a CPU's)."""
    if k < 1:
        raise ConfigError("k (--k) must be at least 1")
    check_runtime(runtime, precision, device or torch.device("cpu"))
    labels = tuple(loaded.spec.display_names)
    places = [loaded.spec.places.get(name) for name in loaded.spec.class_names]
    judge = Judge(
        model=loaded.name,
        min_confidence=resolve_min_confidence(loaded, min_confidence),
        min_landmark_score=resolve_min_landmark_score(loaded, min_landmark_score),
        places={label: place for label, place in zip(labels, places, strict=True) if place},
    )
    return InferenceSettings(min(k, loaded.spec.num_classes), judge, labels, runtime, precision)
