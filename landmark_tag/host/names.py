"""The names a user may give for where and how the model runs (device, runtime, precision), checked
without loading torch: the command line offers them before anything heavy is imported."""

from __future__ import annotations

import re

from landmark_tag.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "int8")  # int8: the openvino runtime only (runtime.runners)
RUNTIMES = ("auto", "torch", "openvino")
RUNTIME_HELP = "Where the model runs: auto (OpenVINO on a CPU, PyTorch on a GPU), torch or openvino."
PRECISION_HELP = (
    "auto (OpenVINO: bf16 on CPUs with native bf16, else int8 where an int8 model of the checkpoint "
    "passes its check on this CPU, else fp32; PyTorch: bf16 on CUDA and on CPUs with native bf16, else "
    "fp32), fp32, bf16 or int8 (OpenVINO only)."
)


def check_device_name(device: str) -> None:
    """auto, cpu, cuda or cuda:N; anything else is refused."""
    if device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", device):
        raise ConfigError(f"unknown device {device!r} (--device): use auto, cpu, cuda or cuda:N")
