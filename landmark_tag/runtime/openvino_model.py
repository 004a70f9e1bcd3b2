"""OpenVINO on the CPU: the checkpoint's model converted once (fp32); `openvino_runner` runs it (and
the int8 models of `int8_models`).

The converted model returns the logits and the penultimate features (the landmark score's input)
together, so the scan gets from OpenVINO everything it took from PyTorch. Builds are cached (see
`cache`): the first use costs seconds, later ones only reading the files.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.model.openset import capture_features
from landmark_tag.runtime.cache import (
    MODEL_FILE,
    CacheEntry,
    cached_build,
    cpu_features,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


class RuntimeUnavailable(Exception):
    """OpenVINO cannot run this model here; the caller runs it in PyTorch instead."""


class LogitsAndFeatures(nn.Module):
    """The model with its penultimate features as a second output (what `capture_features` hooks)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with capture_features(self.model) as features:
            logits = self.model(pixels)
        return logits, features[-1]


def import_openvino() -> Any:
    decline_telemetry()
    try:
        import openvino
    except Exception as exc:  # ImportError, or a shared library that will not load
        raise RuntimeUnavailable(f"OpenVINO cannot be loaded ({type(exc).__name__}: {exc})") from None
    return openvino


def decline_telemetry() -> None:
    """OpenVINO's converter and NNCF send usage statistics (to Google Analytics) unless a consent
    file in the user's home says no. A photo tool does not report on its users: declined here, for
    this process only, without writing to the user's home."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no telemetry package, no telemetry
        return
    OptInChecker.check = lambda *args, **kwargs: ConsentCheckResult.DECLINED  # type: ignore[method-assign]


def off_the_main_thread(work: Callable[[], T]) -> T:
    """Run `work` on a thread of its own and return its result.

    OpenVINO leaves the AMX tile registers of the threads it computes on in use, which makes every
    signal frame of such a thread about 11 KB larger. The main thread is where Python's signal
    handlers run, often on faulthandler's small alternate stack (pytest and Ray enable it): there a
    SIGCHLD from a decode worker then kills the process with SIGSEGV. So no OpenVINO work runs on the
    main thread; other threads have no alternate stack and take the larger frames on their own."""
    with ThreadPoolExecutor(1, thread_name_prefix="openvino") as thread:
        return thread.submit(work).result()


def base_parts(loaded: LoadedModel, variant: str) -> dict[str, str]:
    ov = import_openvino()
    return {
        "checkpoint": loaded.fingerprint,
        "variant": variant,
        "openvino": ov.get_version(),
        "cpu": cpu_features(),
    }


def fp32_model(loaded: LoadedModel, root: Path | None = None) -> CacheEntry:
    """The checkpoint's model in OpenVINO's format, converted on first use."""

    def build(folder: Path) -> dict[str, Any]:
        ov = import_openvino()
        started = time.monotonic()
        logger.info("converting %s to OpenVINO (once per model and machine)", loaded.path)
        size = loaded.spec.preprocessing.input_size
        wrapper = LogitsAndFeatures(loaded.model.cpu().eval())
        try:
            # OpenVINO traces the model with TorchScript, whose deprecation warning is not for users.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                model = ov.convert_model(
                    wrapper, example_input=torch.zeros(1, 3, size, size), input=[(-1, 3, size, size)]
                )
            ov.save_model(model, str(folder / MODEL_FILE), compress_to_fp16=False)
        except Exception as exc:  # a layer OpenVINO cannot convert, or a converter bug
            raise RuntimeUnavailable(
                f"{loaded.path} could not be converted to OpenVINO ({type(exc).__name__}: {exc})"
            ) from None
        return {"seconds": round(time.monotonic() - started, 2)}

    parts = base_parts(loaded, "fp32")
    return cached_build(
        f"{loaded.spec.arch}-fp32", parts, lambda folder: off_the_main_thread(lambda: build(folder)), root
    )
