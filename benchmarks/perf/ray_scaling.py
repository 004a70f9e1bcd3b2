"""What running the scan on Ray costs on one machine, against the default engine.

    python -m benchmarks.perf.ray_scaling [--photos-web 3000] [--photos-12mp 1200] [--repeats 2] [--json F]

Makes a web-sized set (864x576 JPEGs; 750 made, copied up to --photos-web) and a 12 MP camera
set (200 made, copied up to --photos-12mp) in a temp folder, with the default
checkpoint format (EfficientNet-Lite0, a landmark score over 5,000 photos). Then, on the same photos,
interleaved round by round (the machine may be shared), each in a fresh process:

  - the default engine (`--engine local`);
  - `--engine ray` on a local Ray instance, with one model actor;
  - the same with two model actors.

Each process first scans 16 photos to warm up (for Ray: start the instance, start its workers, load
the model into an actor), then scans the set. Reported: the set's steady rate (photos committed after
the first 40%, over the time they took: start-up excluded), its whole-scan rate (first batch to
output written, as in scan_throughput.py), the start-up (and ray.init's part of it), and the peak
memory: the largest sum of PSS over the process and every process under it, Ray's raylet, object
store and workers included. Medians of --repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.common import (
    benchmark_checkpoints,
    make_set,
    median_run,
    rate_from_first_batch,
    run_fresh,
    tree_memory_bytes,
)

ENGINES = {"local": [], "ray, 1 actor": ["--actors", "1"], "ray, 2 actors": ["--actors", "2"]}


class CommitTimes:
    """A scan progress that records when rows were committed."""

    def __init__(self) -> None:
        self.commits: list[tuple[int, float]] = []  # (photos so far, when)
        self.total = 0

    def start(self, total: int) -> None:
        pass

    def advance(self, photos: int) -> None:
        self.total += photos
        self.commits.append((self.total, time.monotonic()))

    def steady_rate(self) -> float:
        """Photos per second over the commits after the first 40% of the photos: by then the
        engine has started everything it starts (Ray: a new actor pool per scan), and what it
        decoded ahead while starting (Ray: at most 4 shards per actor) has been used up, so the
        rate is the pipeline's own. NaN where fewer than two commits follow (a scan too small)."""
        start = next(i for i, (done, _) in enumerate(self.commits) if done >= 0.4 * self.total)
        (first, started), (last, ended) = self.commits[start], self.commits[-1]
        return (last - first) / (ended - started) if ended > started else float("nan")


def one_scan(folder: str, warmup: str, model: str, out: str, engine_args: list[str]) -> dict:
    """Run in a fresh process (`--one-scan`): a warm-up scan of a few photos, then the measured scan
    through the Python API, with the memory of this process and everything under it watched. For
    Ray, this process starts the local instance itself, as the scan would, and both scans use it:
    the warm-up pays Ray's start-up (its workers import torch, the actors load the model) once."""
    from landmark_tag.host.process import default_threads
    from landmark_tag.pipeline.scan import ScanConfig, scan

    threads = default_threads(torch.device("cpu"))
    actors = int(engine_args[1]) if engine_args else 0
    peak, running = 0, True

    def watch() -> None:
        nonlocal peak
        while running:
            peak = max(peak, tree_memory_bytes(os.getpid()))
            time.sleep(0.5)

    def config(photos: str) -> ScanConfig:
        settings = ScanConfig([photos], out, model=model, full=True, threads=threads)
        if actors:
            settings.engine, settings.actors = "ray", actors
        return settings

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    ray_start = 0.0
    if actors:
        import ray

        # As the scan starts its own instance: a decode slot per core, beside the actors' threads.
        cpus = (os.cpu_count() or 1) + actors * threads
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
        ray_start = time.monotonic() - started
    scan(config(warmup))
    startup = time.monotonic() - started
    commits = CommitTimes()
    summary = scan(config(folder), commits)
    running = False
    watcher.join()
    return {
        "photos": summary.processed,
        "photos_per_s": commits.steady_rate(),
        # Like scan_throughput.py's scan rate: from the first batch to the output written.
        "whole_scan_photos_per_s": rate_from_first_batch(asdict(summary)),
        "elapsed_s": summary.elapsed_seconds,
        "ray_start_s": ray_start,
        "startup_s": startup,
        "peak_memory_mb": peak / 2**20,
        "device": summary.device,
    }


def run_child(folder: Path, model: Path, workdir: Path, engine_args: list[str]) -> dict:
    args = [str(folder), str(workdir / "warmup"), str(model), str(workdir / "out.parquet"), *engine_args]
    return run_fresh(["-m", "benchmarks.perf.ray_scaling", "--one-scan"], *args)


def copied_set(folder: Path, count: int, made: list[Path]) -> list[Path]:
    """`count` photos, copies of the `made` ones in turn: a long scan without making every photo.
    (Copies, not hard links: the scan counts a file reached twice once.) Decoding costs the same
    for each copy, and the files stay in the page cache for every engine alike."""
    folder.mkdir()
    paths = [folder / f"{i:05d}-{made[i % len(made)].name}" for i in range(count)]
    for i, path in enumerate(paths):
        shutil.copyfile(made[i % len(made)], path)
    return paths


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one-scan":
        print(json.dumps(one_scan(*sys.argv[2:6], sys.argv[6:])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos-web", type=int, default=3000)
    parser.add_argument("--photos-12mp", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=2, help="rounds; the median run is reported")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict = {"cores": os.cpu_count(), "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, _, _ = benchmark_checkpoints(tmp, 5000)
        make_set(tmp / "warmup", 16, (864, 576))
        web = make_set(tmp / "web-made", min(750, args.photos_web), (864, 576))
        camera = make_set(tmp / "12mp-made", min(200, args.photos_12mp), (4000, 3000))
        sets = {
            "web": copied_set(tmp / "web", args.photos_web, web),
            "12mp": copied_set(tmp / "12mp", args.photos_12mp, camera),
        }
        for name, paths in sets.items():
            runs: dict[str, list[dict]] = {engine: [] for engine in ENGINES}
            for _ in range(args.repeats):
                for engine, engine_args in ENGINES.items():
                    runs[engine].append(run_child(tmp / name, model, tmp, engine_args))
            row = {engine: median_run(measured) for engine, measured in runs.items()}
            for engine in ENGINES:
                row[engine]["vs_local"] = row[engine]["photos_per_s"] / row["local"]["photos_per_s"]
            results["sets"][name] = {"photos": len(paths), "engines": row}
            print(f"{name}: {json.dumps(row)}", flush=True)

    print()
    print("set | engine | photos/s | vs local | whole scan photos/s | ray.init s | start-up s | peak memory")
    print("--- | --- | --- | --- | --- | --- | --- | ---")
    for name, data in results["sets"].items():
        for engine, run in data["engines"].items():
            cells = [f"{name} ({data['photos']})", engine, f"{run['photos_per_s']:.1f}",
                     f"{run['vs_local']:.2f}", f"{run['whole_scan_photos_per_s']:.1f}",
                     f"{run['ray_start_s']:.1f}", f"{run['startup_s']:.1f}",
                     f"{run['peak_memory_mb']:.0f} MB"]  # fmt: skip
            print(" | ".join(cells))
    print("\nphotos/s: the measured scan's commits after its first 40% of the photos (steady state).")
    print("whole scan: the measured scan from its first batch to its output written (a new Ray actor pool")
    print("starts in it).")
    print("start-up: from a fresh process to the end of the warm-up scan (16 photos), ray.init included.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
