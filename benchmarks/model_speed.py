"""The model alone on a CPU: what malloc settings, threads and precision each do to its speed.

    python benchmarks/model_speed.py [--batch-size 8] [--passes 40] [--repeats 3]

Runs EfficientNet-Lite0 forward passes on one batch in memory, in a fresh process per measurement
(malloc settings are per process): with glibc's defaults and with the scan's settings
(landmark_tag.pipeline.allocator), on one thread and on all cores, in fp32 and in bf16. Reports
photos/s, page faults per forward pass and peak RSS; each the median of --repeats runs,
interleaved so that a noisy moment on a shared machine hits every configuration alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from landmark_tag.device import cpu_has_fast_bf16

MEASURE = """
import json, resource, sys, time
settings, threads, precision = sys.argv[1], int(sys.argv[2]), sys.argv[3]
batch_size, passes = int(sys.argv[4]), int(sys.argv[5])
from landmark_tag.pipeline.allocator import keep_freed_memory
tuned = keep_freed_memory() if settings == "scan" else False
import timm, torch
from landmark_tag.device import resolve_precision
torch.set_num_threads(threads)
torch.manual_seed(0)
model = timm.create_model("tf_efficientnet_lite0", num_classes=50).eval()
model = model.to(memory_format=torch.channels_last)
pixels = torch.randn(batch_size, 3, 224, 224).contiguous(memory_format=torch.channels_last)
dtype = resolve_precision(precision, torch.device("cpu"))
with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
    for _ in range(3):
        model(pixels)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    for _ in range(passes):
        model(pixels)
    seconds = time.perf_counter() - started
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(json.dumps({
    "tuned": tuned,
    "photos_per_s": passes * batch_size / seconds,
    "faults_per_pass": faults / passes,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def measure(settings: str, threads: int, precision: str, batch_size: int, passes: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, settings, str(threads), precision, str(batch_size), str(passes)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--passes", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    configs = [
        (settings, threads, precision)
        for precision in ("fp32", "bf16")
        for threads in sorted({1, cores})
        for settings in ("glibc", "scan")
    ]
    runs: dict[tuple, list[dict]] = {config: [] for config in configs}
    for _ in range(args.repeats):
        for config in configs:
            runs[config].append(measure(*config, args.batch_size, args.passes))

    def median(config: tuple, key: str) -> float:
        return statistics.median(run[key] for run in runs[config])

    auto = "bf16" if cpu_has_fast_bf16() else "fp32"
    print(f"EfficientNet-Lite0, batch {args.batch_size}, {cores} cores; the scan's default: {auto}\n")
    print("precision | threads | malloc settings | photos/s | page faults per pass | peak RSS | speed-up")
    print("--- | --- | --- | --- | --- | --- | ---")
    for settings, threads, precision in configs:
        config = (settings, threads, precision)
        speedup = median(config, "photos_per_s") / median(("glibc", threads, "fp32"), "photos_per_s")
        print(
            f"{precision} | {threads} | {'glibc defaults' if settings == 'glibc' else 'the scan'} | "
            f"{median(config, 'photos_per_s'):.1f} | {median(config, 'faults_per_pass'):,.0f} | "
            f"{median(config, 'peak_rss_mb'):.0f} MB | {speedup:.2f}"
        )
    print("\nspeed-up: against fp32 with glibc's defaults on as many threads")
    if not all(run["tuned"] for run in runs["scan", 1, "fp32"]):
        print("The scan's settings did not apply here (not glibc?): its rows measure the defaults.")
    if args.json:
        results = [{"config": list(config), "runs": measured} for config, measured in runs.items()]
        with open(args.json, "w") as handle:
            json.dump({"batch_size": args.batch_size, "cores": cores, "results": results}, handle)


if __name__ == "__main__":
    main()
