"""The learning-rate schedule: torch's LinearLR then CosineAnnealingLR, as the formula says."""

import math

import pytest
import torch

from landmark_tag.training.loop import restore_schedule, warmup_cosine


def formula(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min((step - warmup) / max(1, total - warmup), 1.0)))


def optimizer_with(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)


@pytest.mark.parametrize(("warmup", "total"), [(1, 10), (5, 40), (3, 3)])
def test_linear_warmup_then_cosine_to_zero(warmup, total):
    optimizer = optimizer_with()
    scheduler = warmup_cosine(optimizer, warmup, total)
    for step in range(total):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * formula(step, warmup, total), abs=1e-12)
        optimizer.step()
        scheduler.step()


def test_a_schedule_saved_as_one_lambda_lr_is_resumed_where_it_was():
    """Checkpoints written before the schedule used SequentialLR hold a LambdaLR's state."""
    warmup, total, reached = 5, 40, 17
    old_optimizer = optimizer_with()
    old = torch.optim.lr_scheduler.LambdaLR(old_optimizer, lambda step: formula(step, warmup, total))
    for _ in range(reached):
        old_optimizer.step()
        old.step()
    optimizer = optimizer_with()
    scheduler = warmup_cosine(optimizer, warmup, total)
    restore_schedule(scheduler, old.state_dict())
    optimizer.load_state_dict(old_optimizer.state_dict())
    for step in range(reached, total):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * formula(step, warmup, total), abs=1e-9)
        optimizer.step()
        scheduler.step()
