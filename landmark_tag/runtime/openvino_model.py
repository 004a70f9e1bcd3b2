"""OpenVINO on the CPU: the checkpoint's model converted once (fp32), and the runner of built models
(fp32, or int8 from `int8_models`).

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

import numpy as np
import torch
from torch import nn

from landmark_tag.checkpoint import LoadedModel
from landmark_tag.openset import capture_features
from landmark_tag.runtime.cache import (
    MODEL_FILE,
    CacheEntry,
    cached_build,
    cpu_features,
)
from landmark_tag.runtime.int8_check import RunOutputs

logger = logging.getLogger(__name__)
T = TypeVar("T")

CHECK_BATCH = 8  # small: the check runs on a scan's first use, within its memory (README, first use)


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


def compile_model(model_file: Path, precision: str, threads: int) -> Any:
    """A compiled model for this CPU on `threads` threads: `precision` bf16 lets OpenVINO compute in
    bf16 where it would; fp32 and int8 keep every layer that is not quantized in fp32.

    Throughput mode: OpenVINO splits the threads into streams, each running its own inference
    request on its own threads (one each on 2 cores). Streams share no barrier: where one thread
    is held up by a decode worker or another program, the others go on, where a single stream's
    threads would all wait at every layer for the slowest."""
    ov = import_openvino()
    settings = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        # OpenVINO pins its threads to cores by default, always the same ones: two scans (or two Ray
        # actors) on one machine then share one core, and beside other work a pinned thread cannot
        # move to a freer core. Measured (README, Speed): unpinned, each of two 1-thread processes
        # runs twice as fast, and one beside two CPU-bound processes 1.3 to 1.4 times.
        "ENABLE_CPU_PINNING": False,
    }
    return ov.Core().compile_model(str(model_file), "CPU", settings)


def off_the_main_thread(work: Callable[[], T]) -> T:
    """Run `work` on a thread of its own and return its result.

    OpenVINO leaves the AMX tile registers of the threads it computes on in use, which makes every
    signal frame of such a thread about 11 KB larger. The main thread is where Python's signal
    handlers run, often on faulthandler's small alternate stack (pytest and Ray enable it): there a
    SIGCHLD from a decode worker then kills the process with SIGSEGV. So no OpenVINO work runs on the
    main thread; other threads have no alternate stack and take the larger frames on their own."""
    with ThreadPoolExecutor(1, thread_name_prefix="openvino") as thread:
        return thread.submit(work).result()


class OpenVINORunner:
    """Runs a built model on batches: pixels -> (logits, penultimate features), both fp32."""

    runtime = "openvino"
    input_dtype = torch.float32

    def __init__(self, model_file: Path, precision: str) -> None:
        self.model_file = model_file
        self.precision = precision
        self._requests: list[Any] = []
        self._threads = 0
        self._thread: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Free the compiled model and its thread now. OpenVINO's objects must not be left for the
        garbage collector: a process forked later (decode workers, thumbnails) that collects its
        copy of them aborts in OpenVINO's thread pool, which the fork did not copy."""
        self._requests = []
        if self._thread is not None:
            self._thread.shutdown()
            self._thread = None

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Compiled on first use, with the thread count the process has been given by then.
        threads = torch.get_num_threads()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="openvino")
        return self._thread.submit(self._infer, pixels.float().contiguous().numpy(), threads).result()

    def _infer(self, pixels: np.ndarray, threads: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not self._requests or threads != self._threads:
            compiled = compile_model(self.model_file, self.precision, threads)
            streams = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
            self._requests = [compiled.create_infer_request() for _ in range(streams)]
            self._threads = threads
        # The batch in as many parts as there are streams, computed at once.
        requests = self._requests[: max(1, len(pixels))]
        for request, part in zip(requests, np.array_split(pixels, len(requests)), strict=True):
            request.start_async({0: part})
        for request in requests:
            request.wait()
        # Copies: a request reuses its output buffers for the next batch.
        logits = np.concatenate([request.get_output_tensor(0).data for request in requests])
        features = np.concatenate([request.get_output_tensor(1).data for request in requests])
        return torch.from_numpy(logits), torch.from_numpy(features)


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


def run_outputs(loaded: LoadedModel, model_file: Path, precision: str) -> RunOutputs:
    """A built model's probabilities and landmark scores on the checkpoint's validation photos and
    negatives, as the scan would compute them."""
    photos = loaded.calibration_photos
    assert photos is not None
    runner = OpenVINORunner(model_file, precision)
    # Ready once for the CPU: LandmarkScorer.score would lay its bank out again for every batch.
    scorer = loaded.spec.landmark_scorer.on("cpu") if loaded.spec.landmark_scorer is not None else None

    def outputs(part: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        pixels = photos.pixels(part, loaded.spec.preprocessing)
        probabilities, scores = [], []
        for start in range(0, len(pixels), CHECK_BATCH):
            logits, features = runner(pixels[start : start + CHECK_BATCH])
            probabilities.append(torch.softmax(logits / loaded.spec.temperature, dim=1))
            if scorer is not None:
                scores.append(scorer.score(features))
        classes = loaded.spec.num_classes
        probability = torch.cat(probabilities) if probabilities else torch.empty(0, classes)
        return probability, (torch.cat(scores) if scores else torch.empty(0)) if scorer is not None else None

    probabilities, landmark_scores = outputs("validation")
    negative_scores = outputs("negatives")[1] if photos.negatives else None
    runner.close()
    return RunOutputs(probabilities, landmark_scores, negative_scores)
