"""Fitting the landmark score at the end of training, and measuring how a model fares on landmark
photos mixed with photos that show no landmark.

A photo is tagged when its landmark score reaches `min_landmark_score` and its top-1 probability
reaches `min_confidence`, as in a scan (`pipeline.judge`). Over the landmark photos and the
negatives together this reports:

- the share of landmark photos tagged, and how many of those have the right top-1;
- the share of negatives tagged: false tags, each of which would get a wrong location;
- the precision of all tags;
- GAP, the global average precision of the Google Landmark Recognition challenges: every tagged
  photo is a prediction, ranked by its top-1 probability; GAP = sum over ranks i of
  precision@i x [prediction i is right], divided by the number of landmark photos;
- AUROC and the false-positive rate at 95% true-positive rate of the landmark score alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from landmark_tag.model.checkpoint import ModelSpec
from landmark_tag.model.openset import (
    DEFAULT_FALSE_TAG_RATE,
    DEFAULT_LANDMARK_RECALL,
    DEFAULT_NEIGHBOUR,
    DEFAULT_UNKNOWN_RATE,
    LANDMARK_LIKE_SHARE,
    LandmarkScorer,
    auroc,
    build_bank,
    choose_threshold,
    leave_class_out,
    recall_threshold,
)


def fit_landmark_scorer(
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    valid_features: torch.Tensor,
    negative_features: torch.Tensor | None = None,
    recall: float = DEFAULT_LANDMARK_RECALL,
    false_tag_rate: float = DEFAULT_FALSE_TAG_RATE,
    seed: int = 0,
    negative_paths: list[str] | None = None,
    valid_targets: torch.Tensor | None = None,
    landmark_like_share: float | None = LANDMARK_LIKE_SHARE,
    unknown_rate: float | None = DEFAULT_UNKNOWN_RATE,
) -> LandmarkScorer:
    """The landmark score's bank from the training photos' features, and its threshold from the
    held-out validation photos' (and negatives', when given): see `openset.choose_threshold`. The
    negatives taken for landmark photos are counted in the fit, the first few by path.

    With `valid_targets` (a frozen backbone: no photo's features were fitted to it), the validation
    photos join the bank and every photo in it is scored against the others instead: a bank of
    every labelled photo separates other landmarks better (AUROC 0.977 against 0.967 over 5 seeds,
    docs/quality.md), and a threshold fitted on all of them is steadier. Their rows are noted in
    the fit (`validation_rows`), so `evaluate --split valid` can leave them out.

    With `unknown_rate` (None: not used), the labelled photos scored with their own landmark left
    out stand in for famous places the model does not know (`openset.leave_class_out`)."""
    pooled = _pooled(train_features, train_targets, valid_features, valid_targets, seed)
    if pooled is not None:
        scorer, landmark_scores = pooled, pooled.leave_one_out()
    else:
        scorer = LandmarkScorer(build_bank(train_features, train_targets, seed=seed), DEFAULT_NEIGHBOUR)
        landmark_scores = scorer.score(valid_features)
    negative_scores = scorer.score(negative_features) if negative_features is not None else None
    unknown_scores = None
    if unknown_rate is not None:
        labelled = train_features if pooled is None else torch.cat([train_features, valid_features])
        targets = (
            train_targets
            if pooled is None or valid_targets is None
            else torch.cat([train_targets, valid_targets])
        )
        unknown_scores = leave_class_out(labelled, targets, DEFAULT_NEIGHBOUR)
    scorer.threshold, scorer.fit = choose_threshold(
        landmark_scores,
        negative_scores,
        recall,
        false_tag_rate,
        landmark_like_share,
        unknown_scores,
        unknown_rate if unknown_rate is not None else DEFAULT_UNKNOWN_RATE,
    )
    if pooled is not None:
        scorer.fit.update(validation_rows=[len(train_features), len(scorer.bank)], scored="leave-one-out")
    if "landmark_like" in scorer.fit:
        like = scorer.fit.pop("landmark_like")
        scorer.fit["landmark_like_negatives"] = len(like)
        if negative_paths is not None:
            scorer.fit["landmark_like_examples"] = [negative_paths[i] for i in like[:LANDMARK_LIKE_EXAMPLES]]
    return scorer


def _pooled(
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    valid_features: torch.Tensor,
    valid_targets: torch.Tensor | None,
    seed: int,
) -> LandmarkScorer | None:
    """A scorer whose bank is every training and validation photo (training's first), or None
    without `valid_targets` or where the bank would be prototypes rather than photos."""
    if valid_targets is None:
        return None
    features = torch.cat([train_features, valid_features])
    bank = build_bank(features, torch.cat([train_targets, valid_targets]), seed=seed)
    if len(bank) != len(features) or len(bank) <= DEFAULT_NEIGHBOUR:
        return None
    return LandmarkScorer(bank, DEFAULT_NEIGHBOUR)


LANDMARK_LIKE_EXAMPLES = 20  # negatives taken for landmark photos, named in the checkpoint


# Landmark-score thresholds in the sweep: those keeping these shares of the landmark photos.
SWEEP_RECALLS = (1.0, 0.99, 0.95, 0.9, 0.8)


@dataclass
class OpenSetPoint:
    """The mixed set judged at one pair of thresholds."""

    min_landmark_score: float
    min_confidence: float
    landmark_tagged: float  # share of landmark photos tagged
    tagged_top1: float  # of the tagged landmark photos, the share named right
    false_tags: float  # share of negative photos tagged
    precision: float  # right tags / all tags (nan without tags)
    gap: float


@dataclass
class OpenSetEvaluation:
    landmark_photos: int
    negative_photos: int
    has_landmark_score: bool  # False for models trained before the score existed
    auroc: float  # of the landmark score, landmark photos against negatives
    fpr_at_95_tpr: float  # share of negatives scoring at least the 5th percentile of landmark photos
    lowest_landmark_score: float  # the margin between the two sets, when there is one
    highest_negative_score: float
    at_model_thresholds: OpenSetPoint
    sweep: list[OpenSetPoint] = field(default_factory=list)


def global_average_precision(
    confidence: torch.Tensor, correct: torch.Tensor, predicted: torch.Tensor, landmark_photos: int
) -> float:
    """GAP over photos with a prediction (`predicted`), ranked by `confidence`; see the module doc."""
    if landmark_photos == 0:
        return float("nan")
    order = torch.argsort(confidence[predicted], descending=True, stable=True)
    hits = correct[predicted][order].double()
    precision_at = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
    return float((precision_at * hits).sum() / landmark_photos)


def judge_mixed(
    landmark: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    negative: tuple[torch.Tensor, torch.Tensor],
    min_confidence: float,
    min_landmark_score: float,
) -> OpenSetPoint:
    """`landmark` = (top-1 probability, top-1 right, landmark score) per landmark photo;
    `negative` = (top-1 probability, landmark score) per negative photo."""
    probability, right, score = landmark
    negative_probability, negative_score = negative
    tagged = (score >= min_landmark_score) & (probability >= min_confidence)
    false = (negative_score >= min_landmark_score) & (negative_probability >= min_confidence)
    tags = int(tagged.sum() + false.sum())
    right_tags = int((tagged & right).sum())
    confidence = torch.cat([probability, negative_probability])
    correct = torch.cat([right, torch.zeros_like(false)])
    return OpenSetPoint(
        min_landmark_score=min_landmark_score,
        min_confidence=min_confidence,
        landmark_tagged=float(tagged.double().mean()) if len(tagged) else math.nan,
        tagged_top1=right_tags / int(tagged.sum()) if tagged.any() else math.nan,
        false_tags=float(false.double().mean()) if len(false) else math.nan,
        precision=right_tags / tags if tags else math.nan,
        gap=global_average_precision(confidence, correct, torch.cat([tagged, false]), len(probability)),
    )


def evaluate_open_set(
    spec: ModelSpec, landmarks, negatives, scorer: LandmarkScorer | None = None
) -> OpenSetEvaluation:
    """Landmark photos' and negatives' `PhotoOutputs`, judged at the model's thresholds and a sweep
    (with the model's landmark scorer, or `scorer`)."""
    scorer = scorer or spec.landmark_scorer

    def top1_and_score(outputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        probabilities = torch.softmax(outputs.logits.float() / spec.temperature, dim=1)
        confidence, predicted = probabilities.max(dim=1)
        # Without a scorer every photo passes the (missing) landmark test.
        score = torch.ones(len(confidence)) if scorer is None else scorer.score(outputs.features)
        return confidence, predicted, score

    probability, predicted, score = top1_and_score(landmarks)
    right = predicted == landmarks.targets
    negative_probability, _, negative_score = top1_and_score(negatives)
    landmark, negative = (probability, right, score), (negative_probability, negative_score)
    model_threshold = scorer.threshold if scorer is not None else -1.0
    thresholds = {model_threshold, -1.0}  # -1: every photo passes, as without a landmark score
    if scorer is not None and len(score):
        thresholds |= {recall_threshold(score, r) for r in SWEEP_RECALLS}
    return OpenSetEvaluation(
        landmark_photos=len(probability),
        negative_photos=len(negative_probability),
        has_landmark_score=scorer is not None,
        auroc=auroc(score, negative_score) if scorer is not None else math.nan,
        fpr_at_95_tpr=(
            float((negative_score >= recall_threshold(score, 0.95)).double().mean())
            if scorer is not None and len(score) and len(negative_score)
            else math.nan
        ),
        lowest_landmark_score=float(score.min()) if scorer is not None and len(score) else math.nan,
        highest_negative_score=(
            float(negative_score.max()) if scorer is not None and len(negative_score) else math.nan
        ),
        at_model_thresholds=judge_mixed(landmark, negative, spec.min_confidence, model_threshold),
        sweep=[judge_mixed(landmark, negative, spec.min_confidence, t) for t in sorted(thresholds)],
    )
