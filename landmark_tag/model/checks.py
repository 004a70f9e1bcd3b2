"""Every number a checkpoint stores is checked when it is loaded, so a damaged or hand-edited file
fails with one clear error instead of giving wrong answers (a temperature of 0 or NaN, a feature bank
that is not L2-normalised, zero or NaN) or a traceback deep in a scan (a bank of the wrong width)."""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
from torch import nn

from landmark_tag.model.architectures import last_linear_name
from landmark_tag.model.gazetteer import Place
from landmark_tag.model.openset import LandmarkScorer
from landmark_tag.model.preprocessing import Preprocessing


class StoredNumbers(Protocol):
    """What a checkpoint's spec stores that these checks read (`checkpoint.ModelSpec` has it)."""

    temperature: float
    min_confidence: float
    class_names: list[str]
    preprocessing: Preprocessing
    places: dict[str, Place]
    landmark_scorer: LandmarkScorer | None


# The bank is stored in fp16: its rows are unit vectors to about 1e-3.
_UNIT_NORM_TOLERANCE = 0.01


def spec_problems(spec: StoredNumbers, stored_scorer: dict[str, Any] | None, model: nn.Module) -> list[str]:
    """What is wrong with a loaded checkpoint's stored numbers; empty when nothing is.
    `stored_scorer`: the landmark scorer as stored, before loading adjusted any of it."""
    problems = []
    if not _finite(spec.temperature) or spec.temperature <= 0:
        problems.append(f"its temperature is {spec.temperature} (it must be a positive number)")
    if not _finite(spec.min_confidence) or not 0.0 <= spec.min_confidence <= 1.0:
        problems.append(f"its min confidence is {spec.min_confidence} (it must be between 0 and 1)")
    if not spec.class_names:  # (repeated names are allowed: ImageNet's has two cranes)
        problems.append("it names no classes")
    prep = spec.preprocessing
    if prep.input_size < 1 or not all(_finite(s) and s > 0 for s in prep.std) or len(prep.mean) != 3:
        problems.append("its preprocessing holds an impossible size, mean or standard deviation")
    for name, place in spec.places.items():
        if not (_finite(place.latitude) and -90 <= place.latitude <= 90) or not (
            _finite(place.longitude) and -180 <= place.longitude <= 180
        ):
            problems.append(f"the coordinates of {name} ({place.latitude}, {place.longitude}) are impossible")
    if spec.landmark_scorer is not None and stored_scorer is not None:
        problems += _scorer_problems(spec.landmark_scorer.bank, stored_scorer, model)
    return problems


def _scorer_problems(bank: torch.Tensor, stored: dict[str, Any], model: nn.Module) -> list[str]:
    problems = []
    threshold = stored.get("threshold", 0.0)
    if not _finite(threshold) or not -1.0 <= threshold <= 1.0:
        problems.append(f"its landmark score threshold is {threshold} (it must be between -1 and 1)")
    neighbour = stored.get("neighbour", 1)
    if not isinstance(neighbour, int) or not 1 <= neighbour <= len(bank):
        problems.append(f"its landmark score's k is {neighbour}, for a bank of {len(bank)} photos")
    width = model.get_submodule(last_linear_name(model)).in_features
    if bank.shape[1] != width:
        problems.append(f"its feature bank is {bank.shape[1]} features wide, but the model gives {width}")
    rows = bank.float()
    if not torch.isfinite(rows).all():
        problems.append("its feature bank holds NaN or infinite values")
    elif not torch.allclose(rows.norm(dim=1), torch.ones(len(rows)), atol=_UNIT_NORM_TOLERANCE):
        problems.append("its feature bank's rows are not unit vectors (L2-normalised)")
    return problems


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
