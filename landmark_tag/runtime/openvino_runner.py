"""Running a built OpenVINO model (fp32, bf16, or an int8 model of `int8_models`) on batches of photos.

OpenVINO runs in throughput mode: it splits its threads into streams (one thread each on 2 cores),
each running an inference request of its own. A batch runs in one of two ways:

- `runner(pixels)`: now, split across the streams (the int8 check, `evaluate`, `predict`).
- `runner.submit(pixels)`: started on a free stream, returning at once. The scan (both engines,
  through `rows.predicted_rows`) keeps one batch more started than there are streams, so the model
  computes while the scan's process waits for decoded photos and writes rows, and no stream waits
  for another at the end of each batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from landmark_tag.checkpoint import LoadedModel
from landmark_tag.runtime.int8_check import RunOutputs
from landmark_tag.runtime.openvino_model import import_openvino

T = TypeVar("T")

CHECK_BATCH = 8  # small: the check runs on a scan's first use, within its memory (README, first use)


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


class StartedBatch:
    """A batch given to `OpenVINORunner.submit`: its outputs, once its request has finished."""

    def __init__(self, runner: OpenVINORunner) -> None:
        self._runner = runner
        self.outputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.error: Exception | None = None

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, penultimate features), waiting for them if need be; raises what the inference
        raised."""
        if self.outputs is None and self.error is None:
            self._runner._on_own_thread(self._runner._finish_through, self)
        if self.error is not None:
            raise self.error
        assert self.outputs is not None
        return self.outputs


class OpenVINORunner:
    """Runs a built model on batches: pixels -> (logits, penultimate features), both fp32."""

    runtime = "openvino"
    input_dtype = torch.float32

    def __init__(self, model_file: Path, precision: str) -> None:
        self.model_file = model_file
        self.precision = precision
        self._requests: list[Any] = []
        self._idle: list[Any] = []
        self._started: deque[tuple[Any, StartedBatch]] = deque()  # oldest first
        self._threads = 0
        self._thread: ThreadPoolExecutor | None = None

    @property
    def streams(self) -> int:
        """How many batches run at once (known once the first batch has run; 1 until then)."""
        return max(1, len(self._requests))

    def close(self) -> None:
        """Finish the batches started and free the compiled model and its thread now. OpenVINO's
        objects must not be left for the garbage collector: a process forked later (decode workers,
        thumbnails) that collects its copy of them aborts in OpenVINO's thread pool, which the fork
        did not copy."""
        if self._thread is not None:
            self._thread.submit(self._finish_all).result()
            self._thread.shutdown()
            self._thread = None
        self._requests, self._idle = [], []

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._on_own_thread(self._infer_split, self._array(pixels), torch.get_num_threads())

    def submit(self, pixels: torch.Tensor) -> StartedBatch:
        """Start the batch on a free stream and return without waiting for it (waiting only while
        every stream is busy: then for the oldest batch)."""
        started = StartedBatch(self)
        self._on_own_thread(self._start, started, self._array(pixels), torch.get_num_threads())
        return started

    @staticmethod
    def _array(pixels: torch.Tensor) -> np.ndarray:
        return pixels.float().contiguous().numpy()

    def _on_own_thread(self, work: Callable[..., T], *args: Any) -> T:
        """Every OpenVINO call runs on one thread of the runner's own, never the main thread (see
        `openvino_model.off_the_main_thread`), one call at a time."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="openvino")
        return self._thread.submit(work, *args).result()

    def _ready(self, threads: int) -> None:
        # Compiled on first use, with the thread count the process has been given by then.
        if self._requests and threads == self._threads:
            return
        self._finish_all()
        compiled = compile_model(self.model_file, self.precision, threads)
        streams = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self._requests = [compiled.create_infer_request() for _ in range(streams)]
        self._idle = list(self._requests)
        self._threads = threads

    def _start(self, started: StartedBatch, pixels: np.ndarray, threads: int) -> None:
        self._ready(threads)
        if not self._idle:
            self._finish_oldest()
        request = self._idle.pop()
        request.start_async({0: pixels})
        self._started.append((request, started))

    def _finish_oldest(self) -> None:
        request, started = self._started.popleft()
        try:
            request.wait()
            started.outputs = _outputs_of([request])
        except Exception as exc:  # kept for the caller of `result`, whose batch it was
            started.error = exc
        self._idle.append(request)

    def _finish_through(self, started: StartedBatch) -> None:
        while started.outputs is None and started.error is None and self._started:
            self._finish_oldest()

    def _finish_all(self) -> None:
        while self._started:
            self._finish_oldest()

    def _infer_split(self, pixels: np.ndarray, threads: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._ready(threads)
        self._finish_all()
        # The batch in as many parts as there are streams, computed at once.
        requests = self._requests[: max(1, len(pixels))]
        for request, part in zip(requests, np.array_split(pixels, len(requests)), strict=True):
            request.start_async({0: part})
        for request in requests:
            request.wait()
        return _outputs_of(requests)


def _outputs_of(requests: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    # Copies (np.concatenate always copies): a request reuses its output buffers for its next batch.
    logits = np.concatenate([request.get_output_tensor(0).data for request in requests])
    features = np.concatenate([request.get_output_tensor(1).data for request in requests])
    return torch.from_numpy(logits), torch.from_numpy(features)


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
