"""Every perf harness run once at a tiny size, so that none can rot unseen: `.ci/run` runs this.

    python -m benchmarks.smoke [--only NAME,NAME] [--timeout 300]

A harness passes when it exits 0; its figures mean nothing at these sizes. Each gets a temporary
LANDMARK_TAG_CACHE. scan_revisions needs the repository's git history (it compares with HEAD) and
ray_scaling needs Ray; each is skipped, saying so, without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.common import ROOT

# The tiny arguments of each harness in benchmarks/perf; a harness missing here fails the smoke run.
TINY = {
    "scan_throughput": ["--photos-12mp", "2", "--photos-web", "6", "--model-photos", "16", "--repeats", "1",
                        "--bank-photos", "50"],
    "scan_revisions": ["--base", "HEAD", "--engines", "local", "--photos-web", "6", "--photos-12mp", "1",
                       "--repeats", "1"],
    "model_speed": ["--passes", "2", "--repeats", "1"],
    "fixed_batch": ["--seconds", "0.2", "--repeats", "1"],
    "shared_cpu": ["--seconds", "0.3", "--repeats", "1"],
    "worker_priority": ["--nice", "0,19", "--photos-12mp", "1", "--photos-web", "6"],
    "ray_scaling": ["--photos-web", "8", "--photos-12mp", "2", "--repeats", "1"],
    "scan_memory": ["--small", "20", "--large", "40"],
    "driver_memory": ["--photos", "2000"],
    "report_scale": ["--small", "20", "--large", "40"],
    "locate_scale": ["--rows", "2000", "--cameras", "5"],
    "copies_cost": ["--photos", "2", "--rounds", "1", "--scan-photos", "4"],
    "copies_scale": ["--rows", "5000", "--new-share", "0.1", "--copies", "5"],
    "photo_costs": ["--photos", "4"],
    "part_reads": ["--parts", "8", "--rows", "4", "--latency-ms", "0,5", "--ahead", "1,4"],
}  # fmt: skip


def harnesses() -> list[str]:
    return sorted(p.stem for p in (ROOT / "benchmarks" / "perf").glob("*.py") if p.stem != "__init__")


def skip_reason(name: str) -> str | None:
    if name == "scan_revisions" and (shutil.which("git") is None or not (ROOT / ".git").exists()):
        return "not a git checkout"
    if name == "ray_scaling" and importlib.util.find_spec("ray") is None:
        return "Ray is not installed"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="these harnesses only, comma-separated")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each harness may take")
    args = parser.parse_args()
    names = harnesses()
    untried = sorted(set(names) - set(TINY))
    if untried:
        sys.exit(f"no tiny arguments for {', '.join(untried)}: add them to TINY in benchmarks/smoke.py")
    failed = []
    for name in args.only.split(",") if args.only else names:
        reason = skip_reason(name)
        if reason:
            print(f"skip {name}: {reason}", flush=True)
            continue
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "LANDMARK_TAG_CACHE": cache, "PYTHONPATH": str(ROOT)}
            command = [sys.executable, "-m", f"benchmarks.perf.{name}", *TINY[name]]
            try:
                done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                      timeout=args.timeout)  # fmt: skip
                ok, output = done.returncode == 0, done.stdout + done.stderr
            except subprocess.TimeoutExpired as exc:
                ok, output = False, f"over {args.timeout:.0f} s\n{exc.stdout or ''}{exc.stderr or ''}"
        print(f"{'ok  ' if ok else 'FAIL'} {name} ({time.monotonic() - started:.0f} s)", flush=True)
        if not ok:
            failed.append(name)
            print(output[-3000:] if isinstance(output, str) else output, flush=True)
    if failed:
        sys.exit(f"benchmarks failed at a tiny size: {', '.join(failed)}")


if __name__ == "__main__":
    main()
