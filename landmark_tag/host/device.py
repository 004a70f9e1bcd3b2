"""Where and in what precision the model runs: shared by the scan, `predict`, training and
evaluation."""

from __future__ import annotations

import os

import torch

from landmark_tag.errors import ConfigError
from landmark_tag.host.names import PRECISIONS, check_device_name


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a GPU is an error, not a silent fallback."""
    check_device_name(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("the cuda device (--device cuda) was asked for, but no CUDA GPU is available")
    return torch.device(device)


# oneDNN's instruction-set caps (ONEDNN_MAX_CPU_ISA) below the first with native bf16.
_ISA_CAPS_WITHOUT_BF16 = frozenset(
    {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
)


def onednn_isa_cap() -> str | None:
    """The instruction-set cap set by `ONEDNN_MAX_CPU_ISA`, if any. PyTorch and OpenVINO both
    compute through oneDNN, which then runs only the kernels of that set (and below): a machine
    limited this way must be treated as the CPU it behaves as."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return cap if cap and cap not in ("ALL", "DEFAULT") else None


# ... and below the first with an int8 dot product (VNNI).
_ISA_CAPS_WITHOUT_VNNI = frozenset({"SSE41", "AVX", "AVX2", "AVX512_CORE"})
_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them; empty elsewhere."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_fast_int8() -> bool:
    """Whether this CPU has an int8 dot product (VNNI or AMX), and oneDNN may use it. Without one
    (AVX2 alone: most laptops and older servers), int8 gained little over fp32 and failed its check
    on wonders7, its 16-bit sums rounding and saturating (docs/benchmarks.md, "Without native bf16")."""
    if onednn_isa_cap() in _ISA_CAPS_WITHOUT_VNNI:
        return False
    flags = cpu_flags()
    if flags:
        return bool(flags & _VNNI_FLAGS)
    try:
        return bool(torch.cpu._is_vnni_supported())
    except AttributeError:
        return False


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX), and oneDNN may use it. There,
    bf16 inference runs 1.5 to 2.3 times as fast as fp32 (`benchmarks/perf/model_speed.py`); elsewhere bf16 is
    emulated and slower, and OpenVINO's bf16 under a lower `ONEDNN_MAX_CPU_ISA` fails outright."""
    if onednn_isa_cap() in _ISA_CAPS_WITHOUT_BF16:
        return False
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
