"""Frozen-backbone training: run the backbone once per photo and train the head on its features."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from landmark_tag.model.architectures import last_linear_name
from landmark_tag.training.loop import TrainReporter


@torch.inference_mode()
def extract_features(
    backbone: nn.Module,
    data: Dataset,
    device: torch.device,
    batch_size: int,
    workers: int,
    reporter: TrainReporter,
) -> torch.Tensor:
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers)
    reporter.task_started("extracting features", len(loader))
    backbone.eval().to(device)
    outputs = []
    for inputs, _ in loader:
        outputs.append(backbone(inputs.to(device)).float().cpu())
        reporter.advance()
    return torch.cat(outputs)


class HeadSwap:
    """Temporarily replace a model's final Linear layer with Identity, so the model emits features."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.name = last_linear_name(model)
        parent_name, _, self.attr = self.name.rpartition(".")
        self.parent = model.get_submodule(parent_name) if parent_name else model
        self.head: nn.Linear = getattr(self.parent, self.attr)

    def __enter__(self) -> nn.Linear:
        setattr(self.parent, self.attr, nn.Identity())
        return self.head

    def __exit__(self, *exc_info) -> None:
        setattr(self.parent, self.attr, self.head)
