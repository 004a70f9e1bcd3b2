"""Where a scan's CPU time goes, per photo: the decode worker's steps one by one, and the whole
scan's threads.

    python -m benchmarks.perf.photo_costs [--model model.pt] [--photos 300] [--size 864x576]

Without --model, EfficientNet-Lite0 with a random head (the speed is the same; int8 needs a trained
checkpoint, whose calibration crops it is built from).

1. In this process, on one thread, for each photo of a generated set (JPEGs of --size): opening the
   file and reading its EXIF, decoding (draft mode), orienting to RGB, the picture's hashes (copies),
   and the model's input tensor (resize, crop, normalise): milliseconds per photo.
2. `landmark-tag scan` of the same set (`--full`), with the CPU time of every thread of the scan's
   process and of its decode workers, from the moment the workers start to the last moment they are
   seen: the model's threads, the main thread (batches in, rows out, parts written) and the workers.
   CPU time per photo beside the wall time per photo shows what the cores spent and what they lost.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from PIL import Image

from benchmarks.common import benchmark_checkpoints, make_set
from landmark_tag.files.images import oriented, to_rgb
from landmark_tag.files.storage import open_binary
from landmark_tag.locating.copies import picture_hashes
from landmark_tag.locating.exif import read_exif
from landmark_tag.model.checkpoint import load_model
from landmark_tag.pipeline.execute.decode import PhotoDecoder


def step_costs(paths: list[Path], decoder: PhotoDecoder) -> dict[str, float]:
    """Milliseconds per photo of each step of a decode worker's job, on one thread."""
    torch.set_num_threads(1)
    spent: dict[str, float] = defaultdict(float)
    for path in paths:
        started = time.perf_counter()
        with open_binary(str(path), None) as handle:
            read_exif(handle)
            handle.seek(0)
            marks = [("open and EXIF", time.perf_counter())]
            with decoder.open(handle) as image:
                image.load()
                marks.append(("decode", time.perf_counter()))
                upright = to_rgb(oriented(image))
                marks.append(("orient, RGB", time.perf_counter()))
                picture_hashes(upright)
                marks.append(("hashes (copies)", time.perf_counter()))
                decoder.tensor(upright)
                marks.append(("model input", time.perf_counter()))
        for name, at in marks:
            spent[name] += at - started
            started = at
    return {name: seconds / len(paths) * 1000 for name, seconds in spent.items()}


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(stat_file: str) -> float:
    """utime + stime of a /proc stat file (the fields after the command's closing parenthesis)."""
    with open(stat_file) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as children:
            kids += [int(k) for k in children.read().split()]
    return kids


def scan_threads(folder: Path, model: Path, out: Path) -> tuple[float, dict[str, float]]:
    """(the scan's wall seconds while its workers ran, CPU seconds by thread group then), read
    from /proc (Linux)."""
    command = [sys.executable, "-m", "landmark_tag", "scan", str(folder), "--model", str(model),
               "--out", str(out), "--full"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first: dict[str, float] | None = None
    last: dict[str, float] = {}
    workers: dict[int, float] = {}
    began = ended = 0.0
    while process.poll() is None:
        try:
            children = _children(process.pid)
            tasks = os.listdir(f"/proc/{process.pid}/task")
            threads = {t: _cpu_seconds(f"/proc/{process.pid}/task/{t}/stat") for t in tasks}
            if children:
                if first is None:
                    first, began = threads, time.monotonic()
                last, ended = threads, time.monotonic()
                for child in children:
                    workers[child] = _cpu_seconds(f"/proc/{child}/stat")
        except (OSError, ValueError, IndexError):  # a thread or worker that just ended
            pass
        time.sleep(0.05)
    if first is None:
        raise RuntimeError("the scan started no decode workers")
    spent = sorted(((last[t] - first.get(t, 0.0), t) for t in last), reverse=True)
    groups = {
        "decode workers": sum(workers.values()),
        "busiest thread of the scan's process (the model's)": spent[0][0],
        "second (the main thread: batches in, rows out)": spent[1][0] if len(spent) > 1 else 0.0,
        "all other threads": sum(seconds for seconds, _ in spent[2:]),
    }
    return ended - began, groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a checkpoint (default: a random EfficientNet-Lite0)")
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--size", default="864x576", help="WIDTHxHEIGHT of the generated JPEGs")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or benchmark_checkpoints(Path(tmp), bank_photos=500)[0]
        decoder = PhotoDecoder(load_model(model).spec.preprocessing)
        paths = make_set(Path(tmp) / "photos", args.photos, (width, height))
        with Image.open(paths[0]) as first:
            print(f"{len(paths)} JPEGs of {first.size[0]}x{first.size[1]}\n")
        costs = step_costs(paths, decoder)
        print("decode worker's step | ms per photo (one thread)")
        print("--- | ---")
        for name, ms in costs.items():
            print(f"{name} | {ms:.2f}")
        print(f"all | {sum(costs.values()):.2f}\n")
        scan_threads(Path(tmp) / "photos", model, Path(tmp) / "warm.parquet")  # builds the model once
        wall, groups = scan_threads(Path(tmp) / "photos", model, Path(tmp) / "out.parquet")
        per_photo = 1000 / len(paths)
        print(f"scan: {wall * per_photo:.2f} ms of wall time per photo while its workers ran")
        print("threads | CPU ms per photo")
        print("--- | ---")
        for name, seconds in groups.items():
            print(f"{name} | {seconds * per_photo:.2f}")
        cores = os.cpu_count() or 1
        used = sum(groups.values())
        print(f"all | {used * per_photo:.2f} (of {cores} cores x wall: {used / (wall * cores):.0%} busy)")


if __name__ == "__main__":
    main()
