"""OpenVINO compiled for any batch size against compiled for exactly the batch it runs.

    python -m benchmarks.perf.fixed_batch [--model model.pt] [--threads 1] [--batch-sizes 8,16] [--repeats 5]

Runs the model the scan would run for --model (its `auto` precision: bf16, int8 or fp32; default a
random EfficientNet-Lite0 in fp32) in one process, on one batch of random pixels in memory, on
--threads threads (the scan's on 2 cores: 1), each way compiled by the scan's own
`openvino_runner.compile_model`. The two ways take turns, --repeats rounds of --seconds each, and
each figure is the median, so that a noisy moment on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import benchmark_checkpoints
from landmark_tag.model.checkpoint import load_model
from landmark_tag.runtime.openvino_model import off_the_main_thread
from landmark_tag.runtime.openvino_runner import compile_model
from landmark_tag.runtime.runners import open_runner


def photos_per_second(request: object, pixels: np.ndarray, seconds: float) -> float:
    photos, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        request.infer({0: pixels})  # type: ignore[attr-defined]
        photos += len(pixels)
    return photos / (time.perf_counter() - started)


def measure(model_file: Path, precision: str, args: argparse.Namespace) -> list[tuple[int, float, float]]:
    """(batch size, photos/s compiled for any batch, photos/s compiled for that batch) per size."""
    results = []
    for batch in args.batch_sizes:
        pixels = np.random.default_rng(0).normal(size=(batch, 3, 224, 224)).astype(np.float32)
        requests = {
            fixed: compile_model(
                model_file, precision, args.threads, batch if fixed else None
            ).create_infer_request()
            for fixed in (False, True)
        }
        rates: dict[bool, list[float]] = {False: [], True: []}
        for request in requests.values():
            request.infer({0: pixels})  # warm up
        for _ in range(args.repeats):
            for fixed, request in requests.items():
                rates[fixed].append(photos_per_second(request, pixels, args.seconds))
        results.append((batch, statistics.median(rates[False]), statistics.median(rates[True])))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a trained checkpoint (default: a random Lite0)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--batch-sizes", type=lambda text: [int(size) for size in text.split(",")], default=[8]
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="of computing, per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.model or benchmark_checkpoints(Path(tmp), 5000)[1]
        runner = open_runner(load_model(checkpoint), torch.device("cpu"), "openvino", "auto")
        runner.close()
        if runner.runtime != "openvino":
            raise SystemExit("OpenVINO could not run this model here (see the warning above)")
        # OpenVINO off the main thread, as the scan runs it (see off_the_main_thread).
        results = off_the_main_thread(lambda: measure(runner.model_file, runner.precision, args))
    print(f"OpenVINO {runner.precision}, {args.threads} thread(s); photos/s, median of {args.repeats}\n")
    print("batch | compiled for any batch | compiled for this batch | fixed / any")
    print("--- | --- | --- | ---")
    for batch, any_batch, fixed in results:
        print(f"{batch} | {any_batch:.1f} | {fixed:.1f} | {fixed / any_batch:.2f}")


if __name__ == "__main__":
    main()
