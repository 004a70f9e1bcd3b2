"""Which runtime runs the model, in which precision, and the PyTorch one.

`--runtime` and `--precision` combine like this (the README's Scanning section has the table):

    runtime   device  precision auto                               fp32   bf16          int8
    auto      CUDA    torch, bf16                                   torch  torch         refused
    auto      CPU     openvino: bf16 where the CPU multiplies it    openvino fp32 / bf16 / int8
                      natively; elsewhere int8 when an int8 model
                      passes its check here (below), else fp32
    torch     any     bf16 on CUDA and bf16 CPUs, else fp32         fp32   bf16          refused
    openvino  CPU     as auto on the CPU                            fp32   bf16          int8

OpenVINO won on every CPU measured, with and without native bf16 (`benchmarks/perf/model_speed.py`). On
a CPU with native bf16, the default is OpenVINO's bf16; elsewhere int8, when an int8 model passes
its check here (`int8_check`: the same decisions as fp32 on the checkpoint's validation photos and
negatives), else fp32. Which int8 (`int8_models`): one built here earlier, else the one the
checkpoint carries (`train` builds it), else one quantized here: once per model and
machine, in seconds, and cached. When OpenVINO cannot be loaded or cannot convert the model, or
when int8 fails its check, the runner says so in one warning and runs what it can: PyTorch, or fp32.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

from landmark_tag.errors import ConfigError
from landmark_tag.host.device import cpu_has_fast_bf16, resolve_precision
from landmark_tag.host.names import PRECISIONS, RUNTIMES
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.model.openset import capture_features

if TYPE_CHECKING:
    from landmark_tag.runtime.quantize import Search

logger = logging.getLogger(__name__)


class ModelRunner(Protocol):
    runtime: str  # torch or openvino

    @property
    def precision(self) -> str:
        """fp32, bf16 or int8."""
        ...

    @property
    def input_dtype(self) -> torch.dtype:
        """What the decode stage should hand the photos over in."""
        ...

    @property
    def streams(self) -> int:
        """How many batches the runtime computes at once (see `submit`)."""
        ...

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, penultimate features or None)."""
        ...

    def submit(self, pixels: torch.Tensor) -> ModelOutputs:
        """Start a batch and return before it is done where the runtime can (OpenVINO); the scan
        keeps one batch more than `streams` started, and takes each one's outputs in order."""
        ...

    def use_spare_core(self, wanted: bool) -> None:
        """Whether the next submitted batches may run on a copy of the model on a spare core, where
        the runner was opened with one (see OpenVINORunner.use_spare_core)."""
        ...

    def close(self) -> None:
        """Finish what was submitted and free what the runtime holds (see OpenVINORunner.close); the
        runner may run again later."""
        ...


class ModelOutputs(Protocol):
    def result(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, penultimate features or None), once computed."""
        ...


@dataclass
class ComputedOutputs:
    logits: torch.Tensor
    features: torch.Tensor | None

    def result(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.logits, self.features


class TorchRunner:
    """PyTorch eager on any device, fp32 or autocast to bf16."""

    runtime = "torch"
    streams = 1  # see `submit`

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        autocast_dtype: torch.dtype | None,
        features: bool = True,
    ) -> None:
        # channels_last is the fast layout for convolutions on both modern CPUs and GPUs.
        self.model = model.to(device).to(memory_format=torch.channels_last).eval()
        self.device = device
        self.autocast_dtype = autocast_dtype
        self.features = features

    @property
    def precision(self) -> str:
        return "bf16" if self.autocast_dtype == torch.bfloat16 else "fp32"

    @property
    def input_dtype(self) -> torch.dtype:
        """bf16 when the model runs in bf16, whose first layer rounds its input to bf16 anyway (same
        results, half the bytes from the decode workers)."""
        return torch.bfloat16 if self.autocast_dtype == torch.bfloat16 else torch.float32

    def use_spare_core(self, wanted: bool) -> None:
        pass  # one batch at a time, computed in `submit`

    def close(self) -> None:
        pass  # PyTorch's objects survive a fork

    def submit(self, pixels: torch.Tensor) -> ComputedOutputs:
        # On a CPU, computed now. On CUDA the kernels are only queued, and the outputs waited for when
        # the top-k are copied back: there too the model runs ahead of the rows.
        return ComputedOutputs(*self(pixels))

    @torch.inference_mode()
    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        pixels = pixels.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        dtype = self.autocast_dtype
        if dtype is None:
            pixels = pixels.float()  # fp32 inference of pixels handed over in a smaller dtype
        with (
            torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None),
            capture_features(self.model) if self.features else contextlib.nullcontext() as features,
        ):
            logits = self.model(pixels)
        return logits.float(), features[-1] if features else None


def check_runtime(runtime: str, precision: str, device: torch.device) -> str:
    """The runtime `auto` means on `device`; refuses combinations that cannot run."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r} (--runtime): use {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r} (--precision): use {', '.join(PRECISIONS)}")
    if runtime == "auto":
        runtime = "openvino" if device.type == "cpu" else "torch"
    if runtime == "openvino" and device.type != "cpu":
        raise ConfigError("the openvino runtime (--runtime openvino) runs on the CPU: add --device cpu")
    if runtime == "torch" and precision == "int8":
        raise ConfigError("int8 (--precision int8) runs on the openvino runtime, not torch")
    return runtime


def open_runner(
    loaded: LoadedModel,
    device: torch.device,
    runtime: str = "auto",
    precision: str = "auto",
    spare_core: bool = False,
) -> ModelRunner:
    """The runner for `loaded` on `device`. The one path every model takes to run: choose the
    runtime (`check_runtime`), take the built model from the cache or build it and check it
    (`built_model`), run it (OpenVINORunner, or TorchRunner). `spare_core`: see
    `OpenVINORunner.use_spare_core`."""
    runtime = check_runtime(runtime, precision, device)
    if runtime == "openvino":
        from landmark_tag.runtime.cache import CacheUnavailable
        from landmark_tag.runtime.openvino_model import RuntimeUnavailable
        from landmark_tag.runtime.openvino_runner import OpenVINORunner

        try:
            return OpenVINORunner(*built_model(loaded, precision), spare_core=spare_core)
        except (RuntimeUnavailable, CacheUnavailable) as exc:
            logger.warning("%s: running the model in PyTorch instead", exc)
            precision = "auto" if precision == "int8" else precision
    return TorchRunner(loaded.model, device, resolve_precision(precision, device))


def build_models(loaded: LoadedModel, runtime: str = "auto", precision: str = "auto") -> None:
    """Build (or find in the cache) the OpenVINO model a CPU runner would run, without opening a
    runner: so that processes started next on this machine (Ray's actors) find it built."""
    if check_runtime(runtime, precision, torch.device("cpu")) != "openvino":
        return
    from landmark_tag.runtime.cache import CacheUnavailable
    from landmark_tag.runtime.openvino_model import RuntimeUnavailable

    try:
        built_model(loaded, precision)
    except (RuntimeUnavailable, CacheUnavailable) as exc:
        logger.warning("%s: the model will run in PyTorch instead", exc)


def built_model(loaded: LoadedModel, precision: str) -> tuple[Path, str]:
    """(the built OpenVINO model file that runs, its precision): from the cache, or built here and,
    for int8, checked (`int8_models`)."""
    from landmark_tag.runtime import int8_models
    from landmark_tag.runtime.openvino_model import RuntimeUnavailable, fp32_model

    fp32 = fp32_model(loaded)  # first: without it, nothing else here can run
    if precision == "bf16" or (precision == "auto" and cpu_has_fast_bf16()):
        return fp32.model_file, "bf16"
    if precision == "fp32":
        return fp32.model_file, "fp32"
    try:
        int8 = int8_models.int8_model(loaded, searches=int8_searches(precision))
    except RuntimeUnavailable as exc:
        # Old checkpoints carry no calibration photos: no int8, which `auto` need not mention.
        log = logger.warning if precision == "int8" else logger.info
        log("%s: running fp32, not int8", exc)
        return fp32.model_file, "fp32"
    if int8.check.passed:
        return int8.model_file, "int8"
    # Said loudly once, when `auto` found it out, and whenever int8 is asked for; a nightly scan need
    # not warn of the same verdict every night.
    log = logger.warning if precision == "int8" or int8.built_now else logger.info
    log("int8 changes this model's decisions (%s): running fp32 instead", int8.check.describe())
    return fp32.model_file, "fp32"


def int8_searches(precision: str) -> tuple[Search, ...]:
    """The int8 searches to run here when no int8 built earlier (or carried by the checkpoint)
    passes its check here: the direct one (seconds) and a quick search for `auto`, the thorough one
    too (minutes) when int8 is asked for."""
    from landmark_tag.runtime import quantize

    if precision == "int8":
        return quantize.SEARCHES
    return (quantize.DIRECT, quantize.QUICK)
