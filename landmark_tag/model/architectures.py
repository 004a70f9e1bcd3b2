"""Every architecture a checkpoint can name, built with random weights.

Training and the scan both rebuild models through `build_model`, so an architecture name in a
checkpoint always means the same network. Pretrained weights are loaded by training, not here.
"""

from __future__ import annotations

from typing import Any

from torch import nn

# `train scratch --arch` name -> the architecture name a checkpoint records.
SCRATCH_ARCHITECTURES = {"seed": "seed_cnn", "landmark_cnn": "landmark_cnn"}


class SeedCNN(nn.Module):
    """The original from-scratch CNN, layer for layer: 224x224 input, 50176 features, 50 classes."""

    def __init__(self, num_classes: int = 50, dropout: float = 0.25) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 28 * 28, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class LandmarkCNN(nn.Module):
    """The improved from-scratch CNN: VGG-style batch-normalised stages and global average pooling.

    Global pooling instead of a 50176-wide dense layer removes most parameters, which is what let
    the seed network overfit; `width` scales every stage, so tests can build a tiny one.
    """

    def __init__(self, num_classes: int = 50, width: int = 32, stages: int = 5, dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels_in = 3
        for stage in range(stages):
            channels_out = width * 2 ** min(stage, 3)
            layers += _conv_bn_relu(channels_in, channels_out) + _conv_bn_relu(channels_out, channels_out)
            layers.append(nn.MaxPool2d(2))
            channels_in = channels_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels_in, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def last_linear_name(model: nn.Module) -> str:
    """The qualified name of a classifier's final Linear layer: its head."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no Linear layer")
    return names[-1]


def replace_last_linear(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the final Linear layer of a torchvision classifier for a `num_classes`-way one."""
    last_name = last_linear_name(model)
    parent_name, _, attr = last_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    setattr(parent, attr, nn.Linear(old.in_features, num_classes))
    return model


def build_model(arch: str, num_classes: int, arch_args: dict[str, Any] | None = None) -> nn.Module:
    """Build `arch` with random weights.

    Names: `seed_cnn`, `landmark_cnn`, `timm/<model name>` (e.g. `timm/tf_efficientnet_lite0`) and
    `torchvision/<model name>` (e.g. `torchvision/alexnet`), the latter with a new final layer.
    """
    arch_args = dict(arch_args or {})
    if arch == "seed_cnn":
        return SeedCNN(num_classes, **arch_args)
    if arch == "landmark_cnn":
        return LandmarkCNN(num_classes, **arch_args)
    family, _, name = arch.partition("/")
    if family == "timm" and name:
        import timm

        return timm.create_model(name, pretrained=False, num_classes=num_classes, **arch_args)
    if family == "torchvision" and name:
        import torchvision

        model = torchvision.models.get_model(name, weights=None, **arch_args)
        return replace_last_linear(model, num_classes)
    raise ValueError(
        f"unknown architecture {arch!r}: expected one of {', '.join(SCRATCH_ARCHITECTURES.values())}, "
        "'timm/<name>' or 'torchvision/<name>'"
    )
