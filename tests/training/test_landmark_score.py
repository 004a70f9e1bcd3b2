import math

import pytest
import torch

from landmark_tag.model.checkpoint import ModelSpec
from landmark_tag.model.openset import LandmarkScorer
from landmark_tag.training.evaluate import PhotoOutputs
from landmark_tag.training.landmark_score import (
    auroc,
    evaluate_open_set,
    global_average_precision,
    judge_mixed,
)


def test_auroc_counts_pairs_and_half_ties():
    assert auroc(torch.tensor([0.9, 0.8]), torch.tensor([0.1, 0.2])) == 1.0
    assert auroc(torch.tensor([0.1]), torch.tensor([0.9])) == 0.0
    # pairs: (.5 vs .5) tie, (.5 vs .2) win, (.9 vs both) wins -> 3.5 of 4
    assert auroc(torch.tensor([0.5, 0.9]), torch.tensor([0.5, 0.2])) == 0.875


def test_gap_by_hand():
    # Four landmark photos; predictions ranked by confidence: right, wrong (a negative), right.
    # One landmark photo has no prediction. GAP = (1/1 + 2/3) / 4.
    confidence = torch.tensor([0.9, 0.5, 0.8, 0.2, 0.1])
    correct = torch.tensor([True, True, False, False, False])
    predicted = torch.tensor([True, True, True, False, False])
    expected = (1 / 1 + 2 / 3) / 4
    assert global_average_precision(confidence, correct, predicted, 4) == pytest.approx(expected)


def test_mixed_set_judged_by_hand():
    # Landmark photos: (probability, right, score)
    landmark = (
        torch.tensor([0.9, 0.8, 0.7, 0.3]),
        torch.tensor([True, True, False, True]),
        torch.tensor([0.9, 0.4, 0.8, 0.9]),
    )
    negative = (torch.tensor([0.95, 0.6, 0.9]), torch.tensor([0.7, 0.9, 0.2]))
    point = judge_mixed(landmark, negative, min_confidence=0.5, min_landmark_score=0.5)
    # Tagged landmark photos: #0 (right), #2 (wrong); #1 fails the score, #3 the probability.
    # Tagged negatives: #0 (p .95, s .7) and #1 (p .6, s .9): 2 of 3 false tags.
    assert point.landmark_tagged == 0.5 and point.tagged_top1 == 0.5
    assert point.false_tags == pytest.approx(2 / 3)
    assert point.precision == pytest.approx(1 / 4)
    # Ranked: neg .95 (wrong), lm .9 (right), lm .7 (wrong), neg .6 (wrong): (1/2) / 4 photos.
    assert point.gap == pytest.approx(0.5 / 4)
    everything = judge_mixed(landmark, negative, min_confidence=0.0, min_landmark_score=-1.0)
    assert everything.landmark_tagged == 1.0 and everything.false_tags == 1.0


def test_evaluation_at_the_models_thresholds():
    spec = ModelSpec(arch="landmark_cnn", class_names=["a", "b"], min_confidence=0.0)
    spec.landmark_scorer = LandmarkScorer(torch.tensor([[1.0, 0.0, 0.0]]), threshold=0.5)
    landmarks = PhotoOutputs(
        logits=torch.tensor([[5.0, 0.0], [0.0, 5.0]]),
        targets=torch.tensor([0, 0]),
        features=torch.tensor([[1.0, 0.1, 0.0], [1.0, 0.0, 0.2]]),
    )
    negatives = PhotoOutputs(
        logits=torch.tensor([[5.0, 0.0]]),
        targets=torch.tensor([-1]),
        features=torch.tensor([[0.0, 1.0, 0.0]]),
    )
    result = evaluate_open_set(spec, landmarks, negatives)
    assert (result.landmark_photos, result.negative_photos, result.has_landmark_score) == (2, 1, True)
    assert result.auroc == 1.0 and result.fpr_at_95_tpr == 0.0
    assert result.lowest_landmark_score == pytest.approx(1 / math.sqrt(1.04))  # cos to (1, 0, 0)
    assert result.highest_negative_score == pytest.approx(0.0)
    model = result.at_model_thresholds
    assert (model.landmark_tagged, model.tagged_top1, model.false_tags, model.precision) == (
        1.0,
        0.5,
        0.0,
        0.5,
    )
    # The sweep always shows what happens without the score: every negative is tagged.
    loosest = result.sweep[0]
    assert loosest.min_landmark_score == -1.0 and loosest.false_tags == 1.0
    spec.landmark_scorer = None
    old = evaluate_open_set(spec, landmarks, negatives)
    assert not old.has_landmark_score and math.isnan(old.auroc)
    assert old.at_model_thresholds.false_tags == 1.0
