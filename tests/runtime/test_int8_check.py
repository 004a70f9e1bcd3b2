"""The int8 check judges decisions: wrong tags never, other changes on one photo in a hundred (one in
any check), and no drift of every photo."""

import pytest
import torch

from landmark_tag.runtime.int8_check import MEAN_LIMIT, RunOutputs, Thresholds, check_int8

THRESHOLDS = Thresholds(min_confidence=0.5, min_landmark_score=0.5)


def outputs(probabilities, scores=None, negatives=None, negative_scores=None) -> RunOutputs:
    as_tensor = lambda v: None if v is None else torch.tensor(v, dtype=torch.float32)  # noqa: E731
    return RunOutputs(
        as_tensor(probabilities), as_tensor(scores), as_tensor(negatives), as_tensor(negative_scores)
    )


# Tagged class 0, tagged class 1, uncertain (class 2 at 0.45), then 17 photos that decide nothing
# here (so that a change of one photo's numbers is not a drift of all); negatives: no_landmark twice.
FILLER = 17
FP32 = outputs(
    [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.25, 0.45]] + [[0.8, 0.1, 0.1]] * FILLER,
    [0.9, 0.8, 0.85] + [0.9] * FILLER,
    [[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]],
    [0.2, 0.3],
)


def moved(probabilities=None, scores=None, negatives=None, negative_scores=None) -> RunOutputs:
    """FP32 with the first photos' probabilities or scores (or the negatives') replaced."""
    int8 = outputs(FP32.probabilities.tolist(), FP32.landmark_scores.tolist(), negatives, negative_scores)
    if probabilities is not None:
        int8.probabilities[: len(probabilities)] = torch.tensor(probabilities)
    if scores is not None:
        int8.landmark_scores[: len(scores)] = torch.tensor(scores)
    int8.negative_probabilities = int8.negative_probabilities if negatives else FP32.negative_probabilities
    int8.negative_scores = int8.negative_scores if negative_scores else FP32.negative_scores
    return int8


def test_the_same_answers_pass_and_report_auroc():
    check = check_int8(FP32, FP32, THRESHOLDS)
    assert check.passed and check.top1_agreement == 1.0 and check.decisions_changed == 0
    assert check.probability_max_change == 0.0 and check.score_max_change == 0.0
    assert (check.auroc_fp32, check.auroc_int8) == (1.0, 1.0)
    assert (check.photos, check.negatives) == (3 + FILLER, 2)


def test_small_changes_that_decide_nothing_else_pass():
    check = check_int8(FP32, moved([[0.68, 0.22, 0.1], [0.1, 0.6, 0.3], [0.3, 0.255, 0.445]]), THRESHOLDS)
    assert check.passed and check.decisions_changed == 0
    assert check.probability_max_change == pytest.approx(0.02, abs=1e-6)


def test_a_photo_tagged_with_another_landmark_fails_however_little_moved():
    int8 = moved([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.25, 0.45]])
    int8.probabilities[2] = torch.tensor([0.25, 0.2, 0.55])  # uncertain 2 -> tagged 2: a changed decision
    assert check_int8(FP32, int8, THRESHOLDS).passed
    int8.probabilities[2] = torch.tensor([0.51, 0.04, 0.45])  # -> tagged 0: not fp32's landmark
    check = check_int8(FP32, int8, THRESHOLDS)
    assert not check.passed and check.wrong_tags == 1


def test_a_negative_that_int8_tags_fails():
    check = check_int8(
        FP32, moved(negative_scores=[0.2, 0.55], negatives=[[0.6, 0.3, 0.1], [0.2, 0.25, 0.55]]), THRESHOLDS
    )
    assert not check.passed and check.wrong_tags == 1


def test_one_decision_on_a_thresholds_edge_may_change_in_a_small_check_and_not_two():
    one = moved([[0.7, 0.2, 0.1], [0.1, 0.49, 0.41], [0.3, 0.25, 0.45]])  # tagged -> uncertain
    check = check_int8(FP32, one, THRESHOLDS)
    assert check.passed and (check.decisions_changed, check.decisions_allowed) == (1, 1)
    two = moved(one.probabilities.tolist(), scores=[0.45, 0.8, 0.85])  # and tagged -> no_landmark
    assert not check_int8(FP32, two, THRESHOLDS).passed


def test_a_large_check_allows_one_changed_decision_in_a_hundred():
    photos = 300
    fp32 = outputs([[0.6, 0.3, 0.1]] * photos, [0.9] * photos)
    # tagged 0 -> uncertain 0: a changed decision, not a wrong tag
    changed = lambda n: outputs([[0.49, 0.3, 0.21]] * n + [[0.6, 0.3, 0.1]] * (photos - n), [0.9] * photos)  # noqa: E731
    assert check_int8(fp32, changed(3), THRESHOLDS).passed
    assert not check_int8(fp32, changed(4), THRESHOLDS).passed


def test_a_drift_of_every_photo_fails_without_changing_a_decision():
    step = 2 * MEAN_LIMIT
    drifted = FP32.probabilities + torch.tensor([[-step, step, 0.0]])
    check = check_int8(FP32, moved(drifted.tolist()), THRESHOLDS)
    assert check.decisions_changed == 0 and not check.passed
    scores = check_int8(
        FP32,
        moved(scores=(FP32.landmark_scores - step).tolist(), negative_scores=[0.2 + step, 0.3 + step]),
        THRESHOLDS,
    )
    assert scores.decisions_changed == 0 and not scores.passed
