import pytest
import torch

from landmark_tag.training.calibration import (
    calibrate,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    risk_coverage,
)


def logits_for(
    targets: torch.Tensor, classes: int, margin: float, noise: float, seed: int = 0
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(targets), classes, generator=generator) * noise
    logits[torch.arange(len(targets)), targets] += margin
    return logits


def test_overconfident_model_is_softened_and_its_calibration_error_drops():
    targets = torch.randint(0, 10, (3000,), generator=torch.Generator().manual_seed(1))
    logits = logits_for(targets, 10, margin=4.0, noise=3.0)  # many mistakes, each made with confidence
    result = calibrate(logits, targets)
    assert result.temperature > 1.5
    assert result.ece_before > 0.1
    assert result.ece_after < result.ece_before / 3


def test_a_validation_set_without_mistakes_does_not_drive_confidence_to_one():
    targets = torch.arange(70) % 7
    logits = logits_for(targets, 7, margin=1.5, noise=0.3)  # always right, underconfident
    temperature = fit_temperature(logits, targets)
    mean_top1 = torch.softmax(logits / temperature, dim=1).max(dim=1).values.mean().item()
    assert 0.05 < temperature < 1.0  # sharpened, but not to the clamp
    assert mean_top1 == pytest.approx(71 / 72, abs=0.02)  # the rule-of-succession accuracy
    assert mean_top1 < 0.999


def test_expected_calibration_error_of_known_cases():
    targets = torch.tensor([0, 0, 0, 0])
    right_and_sure = torch.tensor([[1.0, 0.0]] * 4)
    assert expected_calibration_error(right_and_sure, targets) == pytest.approx(0.0)
    half_right_at_90 = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    assert expected_calibration_error(half_right_at_90, targets) == pytest.approx(0.4)


def test_threshold_is_the_lowest_that_meets_the_target_precision():
    confidence = torch.tensor([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    correct = torch.tensor([True, True, True, True, False, True, False, False])
    threshold, precision, coverage = choose_threshold(confidence, correct, 0.8)
    assert (threshold, coverage) == (pytest.approx(0.6), 6 / 8)
    assert precision == pytest.approx(5 / 6)
    threshold, precision, coverage = choose_threshold(confidence, correct, 1.0)
    assert (threshold, precision, coverage) == (pytest.approx(0.8), 1.0, 0.5)


def test_tied_confidences_are_accepted_or_refused_together():
    confidence = torch.tensor([0.9, 0.7, 0.7, 0.7])
    correct = torch.tensor([True, True, False, False])
    threshold, precision, _ = choose_threshold(confidence, correct, 0.6)
    assert (
        threshold == pytest.approx(0.9) and precision == 1.0
    )  # accepting one 0.7 would mean accepting all three


def test_unreachable_target_falls_back_to_the_most_precise_threshold():
    confidence = torch.tensor([0.9, 0.8, 0.7])
    correct = torch.tensor([False, True, False])
    threshold, precision, coverage = choose_threshold(confidence, correct, 0.95)
    assert (
        threshold == pytest.approx(0.8)
        and precision == pytest.approx(0.5)
        and coverage == pytest.approx(2 / 3)
    )


def test_risk_coverage_table():
    confidence = torch.tensor([0.95, 0.85, 0.6, 0.3])
    correct = torch.tensor([True, True, False, False])
    points = risk_coverage(confidence, correct, [0.9, 0.0, 0.5, 0.99])
    assert [p.threshold for p in points] == [0.0, 0.5, 0.9, 0.99]
    assert [p.photos for p in points] == [4, 3, 1, 0]
    assert [p.accuracy for p in points[:3]] == pytest.approx([0.5, 2 / 3, 1.0])
    assert points[3].coverage == 0.0
