"""How long the commit's location pass takes, and how much memory, as the output grows.

    python benchmarks/locate_scale.py [--rows 1000000,10000000] [--cameras 200] [--gps-share 0.3]

Makes an output table of ROWS photos from CAMERAS devices taking photos over a year (a share of them
with GPS, the rest without; half the cameras with offset tags, the others tied to UTC by their GPS
time), then times `locate()` on it (the pass the commit runs over the whole output) and reports the
resident memory it added. Each size runs in a fresh process, so one size's memory does not hide
another's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa


def synthetic(rows: int, cameras: int, gps_share: float, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    camera = rng.integers(0, cameras, rows)
    start = 1_700_000_000.0
    utc = start + np.sort(rng.uniform(0, 365 * 86400, rows))
    clock_offset = (camera % 24 - 12) * 3600.0  # each camera's clock, in its own zone
    local = utc + clock_offset
    has_gps = rng.random(rows) < gps_share
    walk = np.cumsum(rng.normal(0, 1e-4, (rows, 2)), axis=0) + np.array([50.0, 4.0])
    tagged_offset = camera % 2 == 0

    def micros(values: np.ndarray, mask: np.ndarray) -> pa.Array:
        return pa.array(np.round(values * 1e6).astype(np.int64), pa.int64(), mask=~mask)

    return pa.table(
        {
            "status": pa.array(np.where(has_gps, "skipped_gps", "no_landmark")),
            "gps_latitude": pa.array(walk[:, 0], mask=~has_gps),
            "gps_longitude": pa.array(walk[:, 1], mask=~has_gps),
            "estimated_latitude": pa.nulls(rows, pa.float64()),
            "estimated_longitude": pa.nulls(rows, pa.float64()),
            "taken_at": micros(utc, tagged_offset).cast(pa.timestamp("us", tz="UTC")),
            "taken_local": micros(local, np.ones(rows, bool)).cast(pa.timestamp("us")),
            "gps_time": micros(utc, has_gps).cast(pa.timestamp("us", tz="UTC")),
            "camera": pa.array([f"Camera {c}" for c in camera]),
        }
    )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_size(rows: int, cameras: int, gps_share: float) -> dict:
    from landmark_tag.pipeline.commit.fixes import LocateSettings
    from landmark_tag.pipeline.commit.locate import locate

    table = synthetic(rows, cameras, gps_share)
    before = rss_mb()
    started = time.perf_counter()
    located = locate(table, LocateSettings()).table
    seconds = time.perf_counter() - started
    sources = located.column("location_source").value_counts().to_pylist()
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_added_mb": rss_mb() - before,
        "table_mb": table.nbytes / 2**20,
        "sources": {str(item["values"]): item["counts"] for item in sources},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="1000000,10000000")
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--gps-share", type=float, default=0.3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.cameras, args.gps_share)))
        return
    print("| rows | seconds | rows/s | input columns MB | memory added MB | located by time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rows in [int(r) for r in args.rows.split(",")]:
        command = [sys.executable, __file__, "--one", str(rows), "--cameras", str(args.cameras),
                   "--gps-share", str(args.gps_share)]  # fmt: skip
        result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        by_time = result["sources"].get("time", 0) / rows
        print(
            f"| {rows:,} | {result['seconds']:.1f} | {rows / result['seconds']:,.0f} | "
            f"{result['table_mb']:,.0f} | {result['peak_added_mb']:,.0f} | {by_time:.0%} |"
        )


if __name__ == "__main__":
    main()
