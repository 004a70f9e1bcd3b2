"""What the decode workers' priority does to a scan, idle and beside other work.

    python -m benchmarks.perf.worker_priority [--nice 0,5,10,19] [--photos-12mp 24] [--photos-web 120]
                                         [--busy] [--model model.pt]

The scan's decode workers run at the scan's own priority. This runs `landmark-tag scan` through
the CLI with its workers set to each --nice instead (the worker set-up is wrapped, nothing else
changes), on camera-like 12 MP and web-sized photo sets, and reports photos/s from the first batch
(as scan_throughput.py does). `--busy` runs a CPU-bound process per core beside, started by this
process, as other work on a shared machine would be. Without --model, a random EfficientNet-Lite0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.common import (
    benchmark_checkpoints,
    beside_cpu_bound_work,
    make_set,
    rate_from_first_batch,
    scan_summary,
)

# The CLI, with each decode worker lowered to NICE before its usual set-up.
SCAN_AT_NICE = """
import os, sys
import landmark_tag.pipeline.engines.loader as loader
setup, nice = loader._setup_worker, int(os.environ["WORKER_NICE"])
def at_nice(worker_id):
    os.setpriority(os.PRIO_PROCESS, 0, max(nice, os.getpriority(os.PRIO_PROCESS, 0)))
    setup(worker_id)
loader._setup_worker = at_nice
from landmark_tag.cli import main
sys.argv = ["landmark-tag", *sys.argv[1:]]
main()
"""


def scan_rate(folder: Path, model: Path, workdir: Path, nice: int) -> float:
    out, summary = workdir / f"{folder.name}.parquet", workdir / f"{folder.name}.json"
    command = [sys.executable, "-c", SCAN_AT_NICE, "scan", str(folder), "--model", str(model),
               "--out", str(out), "--summary-json", str(summary), "--full"]  # fmt: skip
    return rate_from_first_batch(scan_summary(command, summary, env={"WORKER_NICE": str(nice)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nice", default="0,5,10,19")
    parser.add_argument("--photos-12mp", type=int, default=24)
    parser.add_argument("--photos-web", type=int, default=120)
    parser.add_argument("--busy", action="store_true", help="a CPU-bound process per core beside")
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    nices = [int(value) for value in args.nice.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["LANDMARK_TAG_CACHE"] = str(tmp / "cache")
        model = args.model or benchmark_checkpoints(tmp, 5000)[0]
        sets = {
            "12 MP": make_set(tmp / "12mp", args.photos_12mp, (4000, 3000)),
            "web": make_set(tmp / "web", args.photos_web, (864, 576)),
        }
        scan_rate(sets["web"][0].parent, model, tmp, 0)  # builds the runtime's model, once
        with beside_cpu_bound_work(args.busy):
            rates = {(name, nice): scan_rate(paths[0].parent, model, tmp, nice)
                     for name, paths in sets.items() for nice in nices}  # fmt: skip
    print(f"\n{'busy (a CPU-bound process per core beside)' if args.busy else 'idle'}; photos/s\n")
    print("decode workers at | " + " | ".join(sets))
    print("--- | " + " | ".join("---" for _ in sets))
    for nice in nices:
        print(f"nice {nice} | " + " | ".join(f"{rates[name, nice]:.1f}" for name in sets))


if __name__ == "__main__":
    main()
