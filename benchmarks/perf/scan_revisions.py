"""Is a change to the scan's code free? The same scans, run by two revisions of the code, side by side.

    python -m benchmarks.perf.scan_revisions --base REV [--engines local,ray] [--photos-web 400]
                                        [--photos-12mp 40] [--repeats 3] [--json results.json]

Checks REV out into a temporary worktree, makes the photo sets and the model of
`scan_throughput.py` once, then runs `landmark-tag scan --full` through each revision's own code
(its folder first on the path), engine by engine and set by set, alternating which revision goes
first in each round, so that a machine whose speed drifts favours neither. It reports each
revision's median rate while tagging (photos / (elapsed - setup - engine start - merge), as the
summary's "while tagging" rate) and this tree's rate over REV's: 1.00 is unchanged.
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

from benchmarks.common import ROOT as HERE
from benchmarks.common import benchmark_checkpoints, make_set


def tagging_rate(code: Path, photos: Path, model: Path, out: Path, engine: str) -> float:
    summary = out.with_suffix(".json")
    command = [sys.executable, "-m", "landmark_tag", "scan", str(photos), "--model", str(model),
               "--out", str(out), "--summary-json", str(summary), "--full", "--engine", engine]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code)}
    result = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"scan with {code} failed: {result.stderr[-2000:]}")
    data = json.loads(summary.read_text())
    timing = data["timing"]
    busy = data["elapsed_seconds"] - timing["setup"] - timing["engine_start"] - timing["merging"]
    return data["processed"] / busy


def imported_from(code: Path) -> str:
    probe = [sys.executable, "-c", "import landmark_tag; print(landmark_tag.__file__)"]
    env = {**os.environ, "PYTHONPATH": str(code)}
    return subprocess.run(probe, cwd=code, env=env, capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the revision to compare this tree with")
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--photos-web", type=int, default=400)
    parser.add_argument("--photos-12mp", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        base = work / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.base], cwd=HERE, check=True,
                       capture_output=True)  # fmt: skip
        try:
            revisions = {"this tree": HERE, args.base: base}
            for name, code in revisions.items():
                found = imported_from(code)
                if not found.startswith(str(code)):
                    raise SystemExit(f"{name}: landmark_tag imported from {found}, not {code}")
            model, _, _ = benchmark_checkpoints(work, bank_photos=5000)
            sets = {"web": make_set(work / "web", args.photos_web, (800, 600))[0].parent}
            if args.photos_12mp:
                sets["12 MP"] = make_set(work / "camera", args.photos_12mp, (4000, 3000))[0].parent
            rates: dict[tuple[str, str, str], list[float]] = {}
            for engine in args.engines.split(","):
                for set_name, photos in sets.items():
                    for round_number in range(args.repeats):
                        order = list(revisions.items())
                        if round_number % 2:
                            order.reverse()
                        for name, code in order:
                            rate = tagging_rate(code, photos, model, work / "out.parquet", engine)
                            rates.setdefault((engine, set_name, name), []).append(rate)
                            print(f"{engine} {set_name} {name}: {rate:.1f} photos/s", file=sys.stderr)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=HERE, check=False)
    print(f"| engine | photos | {args.base} | this tree | this tree / {args.base} |")
    print("| --- | --- | --- | --- | --- |")
    table = []
    for engine in args.engines.split(","):
        for set_name in sets:
            before = statistics.median(rates[engine, set_name, args.base])
            after = statistics.median(rates[engine, set_name, "this tree"])
            table.append({"engine": engine, "photos": set_name, "base": before, "this_tree": after})
            print(f"| {engine} | {set_name} | {before:.1f} | {after:.1f} | {after / before:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"base": args.base, "rates": table}, indent=2))


if __name__ == "__main__":
    main()
