"""The check an int8 model must pass before it replaces fp32: same answers on real photos.

On the checkpoint's validation photos, int8 must give every photo the same top-1 landmark as fp32,
and its probabilities may move little: per photo, the largest change over all classes, at most
MEAN_LIMIT on average and MAX_LIMIT anywhere. The landmark score (how much a photo looks like any
landmark) is held to the same limits on the validation photos and the negatives, and its AUROC
(landmark photos against negatives) is reported for both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from landmark_tag.model.openset import auroc

MEAN_LIMIT = 0.01
MAX_LIMIT = 0.05


@dataclass
class RunOutputs:
    """One model's answers on the check's photos: calibrated probabilities and landmark scores."""

    probabilities: torch.Tensor  # (n, classes) for the validation photos
    landmark_scores: torch.Tensor | None  # (n,) validation photos; None without a landmark score
    negative_scores: torch.Tensor | None  # (m,) negatives; None without negatives or a score


@dataclass
class Int8Check:
    photos: int
    negatives: int
    top1_agreement: float  # share of validation photos whose top-1 is the same in int8
    probability_mean_change: float
    probability_max_change: float
    score_mean_change: float | None
    score_max_change: float | None
    auroc_fp32: float | None  # landmark score: validation photos against negatives
    auroc_int8: float | None
    passed: bool

    def describe(self) -> str:
        parts = [
            f"top-1 agrees on {self.top1_agreement:.1%} of {self.photos} validation photos",
            f"probabilities move {self.probability_mean_change:.4f} on average, "
            f"{self.probability_max_change:.4f} at most",
        ]
        if self.score_max_change is not None:
            parts.append(f"landmark scores {self.score_mean_change:.4f} / {self.score_max_change:.4f}")
        if self.auroc_fp32 is not None:
            parts.append(f"landmark-score AUROC {self.auroc_fp32:.4f} (fp32) / {self.auroc_int8:.4f} (int8)")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


def _changes(fp32: torch.Tensor, int8: torch.Tensor) -> torch.Tensor:
    return (fp32.double() - int8.double()).abs()


def _within_limits(changes: torch.Tensor) -> bool:
    return float(changes.mean()) <= MEAN_LIMIT and float(changes.max()) <= MAX_LIMIT


def check_int8(fp32: RunOutputs, int8: RunOutputs) -> Int8Check:
    """Compare int8's answers with fp32's on the same photos; `passed` says whether int8 may run."""
    if len(fp32.probabilities) == 0:
        raise ValueError("the int8 check needs at least one validation photo")
    agreement = float((fp32.probabilities.argmax(1) == int8.probabilities.argmax(1)).double().mean())
    per_photo = _changes(fp32.probabilities, int8.probabilities).amax(dim=1)
    score_changes = None
    if fp32.landmark_scores is not None and int8.landmark_scores is not None:
        score_changes = _changes(fp32.landmark_scores, int8.landmark_scores)
        if fp32.negative_scores is not None and int8.negative_scores is not None:
            score_changes = torch.cat([score_changes, _changes(fp32.negative_scores, int8.negative_scores)])
    auroc_fp32 = auroc_int8 = None
    negatives = 0
    if fp32.negative_scores is not None and int8.negative_scores is not None and len(fp32.negative_scores):
        negatives = len(fp32.negative_scores)
        assert fp32.landmark_scores is not None and int8.landmark_scores is not None
        auroc_fp32 = auroc(fp32.landmark_scores, fp32.negative_scores)
        auroc_int8 = auroc(int8.landmark_scores, int8.negative_scores)
    passed = agreement == 1.0 and _within_limits(per_photo)
    if score_changes is not None:
        passed = passed and _within_limits(score_changes)
    return Int8Check(
        photos=len(fp32.probabilities),
        negatives=negatives,
        top1_agreement=agreement,
        probability_mean_change=float(per_photo.mean()),
        probability_max_change=float(per_photo.max()),
        score_mean_change=float(score_changes.mean()) if score_changes is not None else None,
        score_max_change=float(score_changes.max()) if score_changes is not None else None,
        auroc_fp32=auroc_fp32,
        auroc_int8=auroc_int8,
        passed=passed,
    )
