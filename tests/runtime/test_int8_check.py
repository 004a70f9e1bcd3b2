import pytest
import torch

from landmark_tag.runtime.int8_check import MAX_LIMIT, MEAN_LIMIT, RunOutputs, check_int8


def outputs(probabilities, scores=None, negatives=None) -> RunOutputs:
    as_tensor = lambda v: None if v is None else torch.tensor(v, dtype=torch.float32)  # noqa: E731
    return RunOutputs(as_tensor(probabilities), as_tensor(scores), as_tensor(negatives))


FP32 = outputs([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]], [0.9, 0.8, 0.85], [0.2, 0.3])


def test_the_same_answers_pass_and_report_auroc():
    check = check_int8(FP32, FP32)
    assert check.passed and check.top1_agreement == 1.0
    assert check.probability_max_change == 0.0 and check.score_max_change == 0.0
    assert (check.auroc_fp32, check.auroc_int8) == (1.0, 1.0)
    assert check.negatives == 2


def test_small_changes_pass():
    # Per photo, the largest change of any class: 0.02, 0 and 0.005 (mean 0.0083, under 0.01).
    moved = outputs([[0.68, 0.22, 0.1], [0.1, 0.6, 0.3], [0.2, 0.205, 0.595]], [0.89, 0.8, 0.85], [0.2, 0.3])
    check = check_int8(FP32, moved)
    assert check.passed
    assert check.probability_max_change == pytest.approx(0.02, abs=1e-6)
    assert check.probability_mean_change == pytest.approx(0.025 / 3, abs=1e-6)


def test_a_changed_top1_fails_even_when_probabilities_barely_move():
    fp32 = outputs([[0.501, 0.499], [0.9, 0.1]])
    int8 = outputs([[0.499, 0.501], [0.9, 0.1]])
    check = check_int8(fp32, int8)
    assert not check.passed and check.top1_agreement == 0.5


def test_one_large_probability_change_fails():
    moved = outputs([[0.7, 0.2, 0.1], [0.1, 0.6 - 1.2 * MAX_LIMIT, 0.3 + 1.2 * MAX_LIMIT], [0.2, 0.2, 0.6]])
    check = check_int8(outputs(FP32.probabilities.tolist()), moved)
    assert not check.passed and check.probability_max_change > MAX_LIMIT


def test_many_medium_changes_fail_on_the_mean():
    step = 2 * MEAN_LIMIT  # under the max limit, over the mean limit
    moved = FP32.probabilities + torch.tensor([[-step, step, 0.0]] * 3)
    check = check_int8(outputs(FP32.probabilities.tolist()), RunOutputs(moved, None, None))
    assert check.probability_max_change < MAX_LIMIT and not check.passed


def test_landmark_score_changes_are_held_to_the_same_limits():
    scores_moved = outputs(FP32.probabilities.tolist(), [0.9, 0.8, 0.85], [0.2, 0.3 + 2 * MAX_LIMIT])
    check = check_int8(FP32, scores_moved)
    assert not check.passed and check.score_max_change == pytest.approx(2 * MAX_LIMIT, abs=1e-6)
    assert check.auroc_int8 == 1.0  # ranked the same, but moved too far
