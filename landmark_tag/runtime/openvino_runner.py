"""Running a built OpenVINO model (fp32, bf16, or an int8 model of `int8_models`) on batches of photos.

OpenVINO runs in throughput mode: it splits its threads into streams (one thread each on 2 cores),
each running an inference request of its own. A batch runs in one of two ways:

- `runner(pixels)`: now, split across the streams (the int8 check, `evaluate`, `predict`).
- `runner.submit(pixels)`: started on a free stream, returning at once. The scan (both engines,
  through `rows.predicted_rows`) keeps one batch more started than there are streams, so the model
  computes while the scan's process waits for decoded photos and writes rows, and no stream waits
  for another at the end of each batch. The local engine's runner may also run a batch on a copy of
  the model on a spare core, while the model holds the scan back (`use_spare_core`).

The model is compiled for a fixed number of photos per inference: the largest a runner has met
(the scan's batch size, or its part of a split batch). Smaller batches are padded up to it. With
every shape known when it compiles, OpenVINO runs the scan's batches of 8 on one thread about 15%
faster than a model compiled for any batch size, int8 and bf16 alike (`benchmarks/perf/fixed_batch.py`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.runtime.int8_check import RunOutputs
from landmark_tag.runtime.openvino_model import import_openvino

T = TypeVar("T")

# Small: the check runs on a scan's first use, within its memory (docs/benchmarks.md, first use).
CHECK_BATCH = 8


def compile_model(model_file: Path, precision: str, threads: int, batch: int | None = None) -> Any:
    """A compiled model for this CPU on `threads` threads, for exactly `batch` photos per inference
    (None: any number): `precision` bf16 lets OpenVINO compute in bf16 where it would; fp32 and int8
    keep every layer that is not quantized in fp32.

    Throughput mode: OpenVINO splits the threads into streams, each running its own inference
    request on its own threads (one each on 2 cores). Streams share no barrier: where one thread
    is held up by a decode worker or another program, the others go on, where a single stream's
    threads would all wait at every layer for the slowest."""
    ov = import_openvino()
    core = ov.Core()
    model = core.read_model(str(model_file))
    if batch is not None:
        shape = model.input(0).get_partial_shape()
        shape[0] = batch
        model.reshape(shape)
    return core.compile_model(model, "CPU", _settings(precision, threads))


def copy_compiled(compiled: Any, precision: str, threads: int) -> Any:
    """A second, independent copy of a compiled model, with threads of its own: from its compiled
    form, in about a quarter of the time compiling it again takes (0.05 against 0.22 s)."""
    core = import_openvino().Core()
    return core.import_model(compiled.export_model(), "CPU", _settings(precision, threads))


def _settings(precision: str, threads: int) -> dict[str, Any]:
    return {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        # OpenVINO pins its threads to cores by default, always the same ones: two scans (or two Ray
        # actors) on one machine then share one core, and beside other work a pinned thread cannot
        # move to a freer core. Measured (`benchmarks/perf/shared_cpu.py`): unpinned, each of two
        # 1-thread processes runs twice as fast, and one beside two CPU-bound processes 1.3 to 1.4
        # times.
        "ENABLE_CPU_PINNING": False,
    }


class StartedBatch:
    """A batch given to `OpenVINORunner.submit`: its outputs, once its request has finished."""

    def __init__(self, runner: OpenVINORunner, photos: int) -> None:
        self._runner = runner
        self.photos = photos  # of the batch, before padding
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

    def __init__(self, model_file: Path, precision: str, spare_core: bool = False) -> None:
        self.model_file = model_file
        self.precision = precision
        self.spare_core = spare_core  # see `use_spare_core`
        self._spare_wanted = False
        self._compiled: Any = None
        self._spare: Any = None  # the model's copy on the spare core, made on first need
        self._streams = 0  # of the compiled model, without the spare copy's
        self._requests: list[Any] = []
        self._idle: list[Any] = []
        self._started: deque[tuple[Any, StartedBatch, np.ndarray]] = deque()  # oldest first
        self._threads = 0
        self._batch = 0  # photos per inference the model is compiled for
        self._thread: ThreadPoolExecutor | None = None

    @property
    def streams(self) -> int:
        """How many batches run at once (known once the first batch has run; 1 until then)."""
        return max(1, len(self._requests))

    def use_spare_core(self, wanted: bool) -> None:
        """Whether the next batches may also run on a copy of the model with threads of its own, so
        that two batches compute at once. For a scan whose model has half the cores and whose
        decode workers the rest (`host.process.default_threads`): while the model holds the scan
        back, the workers wait with their batches done and leave a core idle. Running two copies
        all the time lost more to contention than it won; running one compiled for both cores lost
        9% even one batch at a time (docs/benchmarks.md). Only where the runner was opened with
        `spare_core`."""
        self._spare_wanted = self.spare_core and wanted

    def close(self) -> None:
        """Finish the batches started and free the compiled model and its thread now. OpenVINO's
        objects must not be left for the garbage collector: a process forked later (decode workers,
        thumbnails) that collects its copy of them aborts in OpenVINO's thread pool, which the fork
        did not copy."""
        if self._thread is not None:
            self._thread.submit(self._finish_all).result()
            self._thread.shutdown()
            self._thread = None
        self._requests, self._idle, self._compiled, self._spare = [], [], None, None

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._on_own_thread(self._infer_split, self._array(pixels), torch.get_num_threads())

    def submit(self, pixels: torch.Tensor) -> StartedBatch:
        """Start the batch on a free stream and return without waiting for it (waiting only while
        every stream is busy: then for the oldest batch)."""
        started = StartedBatch(self, len(pixels))
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

    def _ready(self, threads: int, batch: int) -> None:
        # Compiled on first use, with the thread count the process has been given by then, and
        # again for a batch larger than any before (the old size is kept if larger).
        if self._requests and threads == self._threads and batch <= self._batch:
            return
        self._finish_all()
        batch = max(batch, self._batch) if threads == self._threads else batch
        self._compiled = compile_model(self.model_file, self.precision, threads, batch)
        self._streams = self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self._requests = [self._compiled.create_infer_request() for _ in range(self._streams)]
        self._idle = list(self._requests)
        self._spare = None
        self._threads, self._batch = threads, batch

    def _running_at_most(self) -> int:
        """Batches to run at once now: the compiled model's streams, and the spare copy's while
        it is wanted (made the first time)."""
        if not self._spare_wanted:
            return self._streams
        if self._spare is None:
            self._spare = copy_compiled(self._compiled, self.precision, self._threads)
            spare_requests = [self._spare.create_infer_request() for _ in range(self._streams)]
            self._requests += spare_requests
            self._idle += spare_requests
        return len(self._requests)

    def _padded(self, pixels: np.ndarray) -> np.ndarray:
        missing = self._batch - len(pixels)
        if missing == 0:
            return pixels
        return np.concatenate([pixels, np.zeros((missing, *pixels.shape[1:]), pixels.dtype)])

    def _start_request(self, request: Any, pixels: np.ndarray) -> np.ndarray:
        # Shared, not copied: OpenVINO reads the array in place, which must then live (and stay
        # unchanged) until the request is finished; returned for the caller to hold until then.
        padded = self._padded(pixels)
        request.start_async({0: padded}, share_inputs=True)
        return padded

    def _start(self, started: StartedBatch, pixels: np.ndarray, threads: int) -> None:
        self._ready(threads, max(1, len(pixels)))
        running_at_most = self._running_at_most()
        while not self._idle or len(self._started) >= running_at_most:
            self._finish_oldest()
        request = self._idle.pop()
        self._started.append((request, started, self._start_request(request, pixels)))

    def _finish_oldest(self) -> None:
        request, started, _ = self._started.popleft()
        try:
            request.wait()
            started.outputs = _outputs_of([request], [started.photos])
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
        # The batch in as many parts as there are streams, computed at once. The streams are known
        # once compiled; before, one per thread is assumed, and compiled again if there are fewer.
        streams = self._streams if self._requests and threads == self._threads else threads
        self._ready(threads, _largest_part(len(pixels), streams))
        self._ready(threads, _largest_part(len(pixels), self._streams))
        self._finish_all()
        parts = np.array_split(pixels, max(1, min(self._streams, len(pixels))))
        requests = self._requests[: len(parts)]  # the compiled model's own, not the spare copy's
        inputs = [self._start_request(request, part) for request, part in zip(requests, parts, strict=True)]
        for request in requests:
            request.wait()
        del inputs  # only now may the arrays go
        return _outputs_of(requests, [len(part) for part in parts])


def _largest_part(photos: int, streams: int) -> int:
    return max(1, -(-photos // max(1, min(streams, photos))))


def _outputs_of(requests: Sequence[Any], photos: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    # Each request's first `photos` (the rest were padding), copied: np.concatenate always copies,
    # and a request reuses its output buffers for its next batch.
    def output(index: int) -> torch.Tensor:
        answers = [
            request.get_output_tensor(index).data[:count]
            for request, count in zip(requests, photos, strict=True)
        ]
        return torch.from_numpy(np.concatenate(answers))

    return output(0), output(1)


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
    negative_probabilities, negative_scores = outputs("negatives") if photos.negatives else (None, None)
    runner.close()
    return RunOutputs(probabilities, landmark_scores, negative_probabilities, negative_scores)
