"""The optimizer's parameter groups, and the learning-rate schedule: torch's LinearLR then
CosineAnnealingLR, as the formula says."""

import math

import pytest
import torch
from torch import nn

from landmark_tag.training.loop import FitConfig, param_groups, restore_schedule, warmup_cosine


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


def small_network() -> nn.Module:
    network = nn.Sequential()
    network.add_module("stem", nn.Conv2d(3, 4, 3))
    network.add_module("norm", nn.BatchNorm2d(4))
    network.add_module("frozen", nn.Linear(4, 4))
    network.add_module("head", nn.Linear(4, 2))
    network.frozen.requires_grad_(False)
    return network


def test_groups_decay_only_weights_and_slow_the_backbone_head_last():
    network = small_network()
    groups = param_groups(network, FitConfig(head="head", lr=0.1, backbone_lr_scale=0.01, weight_decay=0.05))
    names = {id(parameter): name for name, parameter in network.named_parameters()}
    described = [(sorted(names[id(p)] for p in g["params"]), g["lr"], g["weight_decay"]) for g in groups]
    assert described == [
        (["norm.bias", "norm.weight", "stem.bias"], pytest.approx(0.001), 0.0),
        (["stem.weight"], pytest.approx(0.001), 0.05),
        (["head.bias"], 0.1, 0.0),
        (["head.weight"], 0.1, 0.05),
    ]


def test_without_a_head_every_group_learns_at_lr():
    groups = param_groups(small_network(), FitConfig(head=None, lr=0.1, weight_decay=0.05))
    assert [(len(group["params"]), group["lr"], group["weight_decay"]) for group in groups] == [
        (4, 0.1, 0.0),
        (2, 0.1, 0.05),
    ]
