"""Where and in what precision the model runs: shared by the scan, `predict`, training and
evaluation."""

from __future__ import annotations

import torch

from landmark_tag.errors import ConfigError


def check_device_name(device: str) -> None:
    """auto, cpu, cuda or cuda:N; anything else is refused."""
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r} (--device): use auto, cpu or cuda")


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a GPU is an error, not a silent fallback."""
    check_device_name(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("the cuda device (--device cuda) was asked for, but no CUDA GPU is available")
    return torch.device(device)


PRECISIONS = ("auto", "fp32", "bf16", "int8")  # int8: the openvino runtime only (runtime.runners)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX). There, bf16 inference runs
    1.5 to 2.3 times as fast as fp32 (EfficientNet-Lite0 on two threads and on one of a 2-core AMD
    EPYC: `python benchmarks/model_speed.py`); elsewhere bf16 is emulated and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast inference to, or None for plain fp32.

    `auto` is bf16 on CUDA and on CPUs with native bf16, fp32 elsewhere. Probabilities move by up to
    a few hundredths (0.026 at most over the 356 wonders7 photos, whose top-1 all stayed the same).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r} (--precision): use {', '.join(PRECISIONS)}")
    if precision in ("fp32", "int8"):  # int8 is the openvino runtime's; PyTorch falls back to fp32
        return None
    if precision == "bf16" or device.type == "cuda" or cpu_has_fast_bf16():
        return torch.bfloat16
    return None
