"""The check an int8 model must pass before it replaces fp32: the same decisions on real photos.

A scan acts on decisions, not on raw numbers: a photo's status (tagged, uncertain, no_landmark, by
`model.decisions.decide` at the model's thresholds) and its landmark. So int8 is judged on the
checkpoint's validation photos and negatives by what fp32 decides for them:

- int8 may tag no photo with a landmark fp32 would not give it: a validation photo with a landmark
  other than fp32's top-1, or a negative that fp32 does not tag (a wrong location is worse than none);
- decisions (the status, and the top-1 unless no_landmark) may differ on at most one photo in a
  hundred (CHANGED_SHARE), and on one photo in any check: any change of arithmetic moves a photo
  that lies on a threshold's edge across it (bf16 does too), and a check of 70 photos cannot tell
  one such photo from a rate of 1%;
- probabilities and landmark scores may move by MEAN_LIMIT on average, no more: a drift of every
  photo, which few decisions would show on a small check, is a broken model.

The largest changes and the landmark score's AUROC (landmark photos against negatives) in fp32 and
int8 are reported with the verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from landmark_tag.files.results import Status
from landmark_tag.model.checkpoint import ModelSpec
from landmark_tag.model.decisions import decide
from landmark_tag.model.openset import auroc

MEAN_LIMIT = 0.01
CHANGED_SHARE = 0.01


@dataclass(frozen=True)
class Thresholds:
    """The model's thresholds that decide a photo's status (see `model.decisions`)."""

    min_confidence: float
    min_landmark_score: float | None  # None: the model has no landmark score

    @classmethod
    def of(cls, spec: ModelSpec) -> Thresholds:
        """The checkpoint's own thresholds (a scan may be given others)."""
        scorer = spec.landmark_scorer
        return cls(spec.min_confidence, scorer.threshold if scorer is not None else None)


@dataclass
class RunOutputs:
    """One model's answers on the check's photos: calibrated probabilities and landmark scores."""

    probabilities: torch.Tensor  # (n, classes) for the validation photos
    landmark_scores: torch.Tensor | None  # (n,) validation photos; None without a landmark score
    negative_probabilities: torch.Tensor | None  # (m, classes) negatives; None without negatives
    negative_scores: torch.Tensor | None  # (m,) negatives; None without negatives or a score

    def decisions(self, thresholds: Thresholds) -> list[tuple[Status, int | None]]:
        """Every photo's (status, landmark index unless no_landmark): validation photos, then negatives."""
        parts = [(self.probabilities, self.landmark_scores)]
        if self.negative_probabilities is not None:
            parts.append((self.negative_probabilities, self.negative_scores))
        decided = []
        limits = (thresholds.min_confidence, thresholds.min_landmark_score)
        for probabilities, scores in parts:
            top1, landmarks = probabilities.max(dim=1)
            for i in range(len(probabilities)):
                score = float(scores[i]) if scores is not None else None
                status = decide(float(top1[i]), score, *limits)
                decided.append((status, None if status == Status.NO_LANDMARK else int(landmarks[i])))
        return decided


@dataclass
class Int8Check:
    photos: int
    negatives: int
    decisions_changed: int  # photos (validation and negatives) decided otherwise in int8
    decisions_allowed: int
    wrong_tags: int  # photos int8 tags with a landmark fp32 would not give them (see the module)
    top1_agreement: float  # share of validation photos whose top-1 is the same in int8
    probability_mean_change: float
    probability_max_change: float
    score_mean_change: float | None
    score_max_change: float | None
    auroc_fp32: float | None  # landmark score: validation photos against negatives
    auroc_int8: float | None
    passed: bool

    def describe(self) -> str:
        checked = self.photos + self.negatives
        parts = [
            f"decisions differ on {self.decisions_changed} of {checked} photos "
            f"({self.decisions_allowed} allowed), {self.wrong_tags} tagged wrongly",
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


def check_int8(fp32: RunOutputs, int8: RunOutputs, thresholds: Thresholds) -> Int8Check:
    """Compare int8's decisions and answers with fp32's on the same photos; `passed` says whether
    int8 may run."""
    if len(fp32.probabilities) == 0:
        raise ValueError("the int8 check needs at least one validation photo")
    before, after = fp32.decisions(thresholds), int8.decisions(thresholds)
    changed = sum(a != b for a, b in zip(before, after, strict=True))
    allowed = max(1, int(CHANGED_SHARE * len(before)))
    top1s = _top1s(fp32)
    validation = len(fp32.probabilities)
    wrong = sum(
        b[0] == Status.TAGGED and a != b and (i >= validation or b[1] != top1s[i])
        for i, (a, b) in enumerate(zip(before, after, strict=True))
    )
    agreement = float((fp32.probabilities.argmax(1) == int8.probabilities.argmax(1)).double().mean())
    per_photo = _changes(fp32.probabilities, int8.probabilities).amax(dim=1)
    score_changes = None
    if fp32.landmark_scores is not None and int8.landmark_scores is not None:
        score_changes = _changes(fp32.landmark_scores, int8.landmark_scores)
        if fp32.negative_scores is not None and int8.negative_scores is not None:
            score_changes = torch.cat([score_changes, _changes(fp32.negative_scores, int8.negative_scores)])
    auroc_fp32 = auroc_int8 = None
    negatives = len(fp32.negative_probabilities) if fp32.negative_probabilities is not None else 0
    if fp32.negative_scores is not None and int8.negative_scores is not None and len(fp32.negative_scores):
        assert fp32.landmark_scores is not None and int8.landmark_scores is not None
        auroc_fp32 = auroc(fp32.landmark_scores, fp32.negative_scores)
        auroc_int8 = auroc(int8.landmark_scores, int8.negative_scores)
    passed = wrong == 0 and changed <= allowed and float(per_photo.mean()) <= MEAN_LIMIT
    if score_changes is not None:
        passed = passed and float(score_changes.mean()) <= MEAN_LIMIT
    return Int8Check(
        photos=len(fp32.probabilities),
        negatives=negatives,
        decisions_changed=changed,
        decisions_allowed=allowed,
        wrong_tags=wrong,
        top1_agreement=agreement,
        probability_mean_change=float(per_photo.mean()),
        probability_max_change=float(per_photo.max()),
        score_mean_change=float(score_changes.mean()) if score_changes is not None else None,
        score_max_change=float(score_changes.max()) if score_changes is not None else None,
        auroc_fp32=auroc_fp32,
        auroc_int8=auroc_int8,
        passed=passed,
    )


def _top1s(outputs: RunOutputs) -> list[int]:
    parts = [outputs.probabilities]
    if outputs.negative_probabilities is not None:
        parts.append(outputs.negative_probabilities)
    return torch.cat(parts).argmax(dim=1).tolist()
