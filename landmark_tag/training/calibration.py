"""Calibrated confidence: a softmax temperature and an abstention threshold, fitted on validation data.

The temperature T divides the logits so that probabilities match how often the model is right
(temperature scaling, Guo et al. 2017). Fitting it by plain negative log-likelihood fails on a
validation set the model gets entirely right: the likelihood then keeps improving as T shrinks, and
every probability, mistakes included, would be pushed to 1. So the fit targets Laplace-smoothed
labels, as if one more photo had been seen that the model got wrong: with n photos and no errors,
the calibrated top-1 probability settles near (n + 1) / (n + 2), the rule-of-succession estimate
of its accuracy, and with a realistic number of errors the smoothing changes almost nothing.

The threshold is the lowest top-1 probability at which the photos accepted on validation data are
still right at least `target_precision` of the time: the most coverage for that precision.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from landmark_tag.training.config import DEFAULT_TARGET_PRECISION

logger = logging.getLogger(__name__)

TEMPERATURE_BOUNDS = (0.05, 20.0)
ECE_BINS = 15


@dataclass
class Calibration:
    """What `train` fitted on the validation split, stored in the checkpoint's metadata."""

    photos: int
    temperature: float
    ece_before: float  # expected calibration error at temperature 1
    ece_after: float
    min_confidence: float  # the default threshold
    target_precision: float
    precision: float  # of the photos accepted at min_confidence, on validation data
    coverage: float  # share of validation photos accepted at min_confidence


@dataclass
class CoveragePoint:
    """Accepting photos whose top-1 probability is at least `threshold`: how many, how accurate."""

    threshold: float
    coverage: float
    accuracy: float  # of the accepted photos; nan when none is accepted
    photos: int


def top1_confidence(probabilities: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(top-1 probability, whether top-1 is right) per photo."""
    confidence, predicted = probabilities.max(dim=1)
    return confidence, predicted == targets


def expected_calibration_error(
    probabilities: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS
) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    if len(targets) == 0:
        return float("nan")
    confidence, correct = top1_confidence(probabilities, targets)
    edges = torch.linspace(0, 1, bins + 1)
    bin_index = torch.bucketize(confidence, edges[1:-1], right=True)
    error = 0.0
    for b in range(bins):
        members = bin_index == b
        if members.any():
            gap = correct[members].float().mean() - confidence[members].mean()
            error += members.float().mean().item() * abs(gap.item())
    return error


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature minimising cross-entropy against Laplace-smoothed labels (see above)."""
    n, num_classes = logits.shape
    if n == 0:
        return 1.0
    logits = logits.double()
    smoothing = 1.0 / (n + 2)
    soft = torch.full((n, num_classes), smoothing / num_classes, dtype=torch.float64)
    soft[torch.arange(n), targets] += 1.0 - smoothing
    low, high = (math.log(b) for b in TEMPERATURE_BOUNDS)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = -(soft * torch.log_softmax(logits / log_t.clamp(low, high).exp(), dim=1)).sum(dim=1).mean()
        value.backward()
        return value

    optimizer.step(loss)
    temperature = float(log_t.detach().clamp(low, high).exp())
    if not low < math.log(temperature) < high:
        logger.warning("the fitted temperature %.3g is at the limit of %s", temperature, TEMPERATURE_BOUNDS)
    return temperature


def risk_coverage(
    confidence: torch.Tensor, correct: torch.Tensor, thresholds: list[float]
) -> list[CoveragePoint]:
    points = []
    for threshold in sorted(set(thresholds)):
        accepted = confidence >= threshold
        count = int(accepted.sum())
        accuracy = correct[accepted].float().mean().item() if count else float("nan")
        coverage = count / len(confidence) if len(confidence) else float("nan")
        points.append(CoveragePoint(threshold, coverage, accuracy, count))
    return points


def choose_threshold(
    confidence: torch.Tensor, correct: torch.Tensor, target_precision: float
) -> tuple[float, float, float]:
    """(threshold, precision, coverage): the lowest threshold whose accepted photos are right at least
    `target_precision` of the time. If no threshold gets there, the one with the best precision."""
    if len(confidence) == 0:
        return 0.0, float("nan"), float("nan")
    order = torch.argsort(confidence, descending=True)
    ranked, hits = confidence[order], correct[order].double()
    precision = hits.cumsum(0) / torch.arange(1, len(ranked) + 1)
    # Only cut between distinct confidences: photos tied with the threshold are all accepted.
    last_of_tie = torch.cat([ranked[1:] != ranked[:-1], torch.tensor([True])])
    candidates = torch.nonzero(last_of_tie).flatten()
    meeting = candidates[precision[candidates] >= target_precision]
    if len(meeting):
        cut = int(meeting[-1])
    else:
        cut = int(candidates[torch.argmax(precision[candidates])])
        logger.warning(
            "no threshold reaches %.0f%% precision on the validation photos; "
            "using the most precise one (%.1f%%)",
            100 * target_precision,
            100 * float(precision[cut]),
        )
    return float(ranked[cut]), float(precision[cut]), (cut + 1) / len(ranked)


def calibrate(
    logits: torch.Tensor, targets: torch.Tensor, target_precision: float = DEFAULT_TARGET_PRECISION
) -> Calibration:
    """Fit the temperature and the default threshold on held-out logits and their true classes."""
    temperature = fit_temperature(logits, targets)
    before = torch.softmax(logits.float(), dim=1)
    after = torch.softmax(logits.float() / temperature, dim=1)
    confidence, correct = top1_confidence(after, targets)
    threshold, precision, coverage = choose_threshold(confidence, correct, target_precision)
    return Calibration(
        photos=len(targets),
        temperature=temperature,
        ece_before=expected_calibration_error(before, targets),
        ece_after=expected_calibration_error(after, targets),
        min_confidence=threshold,
        target_precision=target_precision,
        precision=precision,
        coverage=coverage,
    )
