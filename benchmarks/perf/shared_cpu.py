"""The model on a CPU it shares: beside other work, and two scans' models at once.

    python -m benchmarks.perf.shared_cpu [--model model.pt] [--threads N] [--seconds 6] [--repeats 3]

Runs the model alone on one batch of 8 in memory, in a fresh process per measurement, three ways:

- PyTorch eager, with the scan's settings (landmark_tag.host.process);
- OpenVINO with its own defaults for latency: one stream, its threads pinned to cores (how the
  scan compiled it before);
- OpenVINO as the scan compiles it (landmark_tag.runtime.openvino_runner.compile_model);

each in three situations: alone; beside a CPU-bound process per core; and two processes of the
same kind at once (two scans on one machine, or two Ray actors), whose rates are added. Every
process computes on --threads threads (default: the scan's, half the cores). The precision is the
scan's `auto` for --model (default: a random EfficientNet-Lite0, which has no int8). Each figure is
the median of --repeats runs, interleaved so that a noisy moment hits every way alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import benchmark_checkpoints, beside_cpu_bound_work

MEASURE = """
import json, sys, time
config = json.loads(sys.argv[1])
import torch
from landmark_tag.model.checkpoint import load_model
from landmark_tag.host.process import prepare_inference_process
from landmark_tag.runtime.runners import open_runner
cpu = torch.device("cpu")
prepare_inference_process(cpu, config["threads"])
loaded = load_model(config["model"])
way = config["way"]
runner = open_runner(loaded, cpu, "torch" if way == "torch" else "openvino", "auto")
pixels = torch.randn(8, 3, 224, 224).to(runner.input_dtype)
if way == "openvino_defaults":
    import openvino as ov
    hint = "bf16" if runner.precision == "bf16" else "f32"
    request = ov.Core().compile_model(str(runner.model_file), "CPU", {
        "INFERENCE_NUM_THREADS": config["threads"], "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": hint}).create_infer_request()
    array = pixels.numpy()
    forward = lambda: request.infer({0: array})
else:
    forward = lambda: runner(pixels)
forward()
print("ready", flush=True)
sys.stdin.readline()  # the go: both processes of a pair start together
photos, started = 0, time.perf_counter()
while time.perf_counter() - started < config["seconds"]:
    forward()
    photos += len(pixels)
rate = photos / (time.perf_counter() - started)
print(json.dumps({"photos_per_s": rate, "ran": f"{runner.runtime} {runner.precision}"}))
"""

WAYS = {
    "torch": "PyTorch eager (the scan's settings)",
    "openvino_defaults": "OpenVINO, its defaults (one stream, pinned)",
    "openvino": "OpenVINO, as the scan compiles it",
}
SITUATIONS = ("alone", "busy", "two at once")


def measure(way: str, situation: str, model: Path, threads: int, seconds: float) -> tuple[float, str]:
    """Photos/s of one process (of both together, for a pair) and what it ran."""
    config = json.dumps({"way": way, "model": str(model), "threads": threads, "seconds": seconds})
    command = [sys.executable, "-c", MEASURE, config]
    processes: list[subprocess.Popen] = []
    with beside_cpu_bound_work(situation == "busy"):
        try:
            for _ in range(2 if situation == "two at once" else 1):
                processes.append(
                    subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                )
            for process in processes:  # each has loaded its model and run it once
                if process.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"{WAYS[way]} failed to start")
            for process in processes:
                process.stdin.write("go\n")
                process.stdin.flush()
            results = [json.loads(process.communicate()[0].splitlines()[-1]) for process in processes]
        finally:
            for process in processes:  # a measurement that failed leaves nothing running
                process.kill()
    return sum(result["photos_per_s"] for result in results), results[0]["ran"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a trained checkpoint (default: a random Lite0)")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // 2))
    parser.add_argument("--seconds", type=float, default=6.0, help="of computing, per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or benchmark_checkpoints(Path(tmp), 5000)[0]
        rates: dict[tuple[str, str], list[float]] = {(w, s): [] for w in WAYS for s in SITUATIONS}
        ran = {}
        for _ in range(args.repeats):
            for situation in SITUATIONS:
                for way in WAYS:
                    rate, ran[way] = measure(way, situation, model, args.threads, args.seconds)
                    rates[way, situation].append(rate)
    median = {key: statistics.median(values) for key, values in rates.items()}
    print(f"{os.cpu_count()} cores, {args.threads} thread(s) per process; photos/s (a pair: both added)\n")
    print("way | ran | alone | busy | busy / alone | two at once | two at once / alone")
    print("--- | --- | --- | --- | --- | --- | ---")
    for way, name in WAYS.items():
        alone, busy, pair = (median[way, situation] for situation in SITUATIONS)
        print(f"{name} | {ran[way]} | {alone:.1f} | {busy:.1f} | {busy / alone:.2f} | {pair:.1f} | "
              f"{pair / alone:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
