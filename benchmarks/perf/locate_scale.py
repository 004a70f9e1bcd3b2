"""How long the commit's location pass takes, and how much memory, as the output grows.

    python -m benchmarks.perf.locate_scale [--rows 1000000,10000000] [--cameras 200] [--gps-share 0.3]
                                      [--track-days 30] [--untied] [--trips 20000] [--nightly]

Makes an output table of ROWS photos from CAMERAS devices taking photos over a year (a share of them
with GPS, the rest without; half the cameras with offset tags, the others tied to UTC by their GPS
time), then times `locate()` on it (the pass the commit runs over the whole output) and reports the
resident memory it added. Each size runs in a fresh process, so one size's memory does not hide
another's. With `--track-days`, a GPS track (a point every 10 s along the photos' walk, over the
first days of the year) is given too, as `--gpx` does: every camera's clock is then aligned on it.
With `--untied`, no photo has an offset tag or a GPS time, so every located photo's UTC comes from
the time zone where it was taken. With `--trips N`, the year is N trips instead of one long walk,
each starting at a random one of GeoNames' places anywhere in the world: the place names are then
looked up for as many different places as a world traveller's library has. With `--nightly`, the
pass runs a second time on its own output, as the next night's commit does with nothing moved: the
place names are then kept, not looked up again.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.common import peak_memory_mb, run_fresh
from landmark_tag.locating.cities import places
from landmark_tag.locating.fixes import Fixes, LocateSettings
from landmark_tag.locating.locate import locate


def synthetic(
    rows: int, cameras: int, gps_share: float, untied: bool = False, seed: int = 0, trips: int = 0
) -> pa.Table:
    rng = np.random.default_rng(seed)
    camera = rng.integers(0, cameras, rows)
    start = 1_700_000_000.0
    utc = start + np.sort(rng.uniform(0, 365 * 86400, rows))
    clock_offset = (camera % 24 - 12) * 3600.0  # each camera's clock, in its own zone
    local = utc + clock_offset
    has_gps = rng.random(rows) < gps_share
    walk = np.cumsum(rng.normal(0, 1e-4, (rows, 2)), axis=0) + np.array([50.0, 4.0])
    if trips:  # each trip's walk starts afresh at one of the world's places
        world = places()
        starts = rng.integers(0, len(world.lat), trips)
        trip = np.arange(rows) * trips // rows
        first = np.searchsorted(trip, np.arange(trips))
        walk -= walk[first][trip]
        walk += np.column_stack([world.lat[starts], world.lon[starts]])[trip]
    tagged_offset = (camera % 2 == 0) & (not untied)

    def micros(values: np.ndarray, mask: np.ndarray) -> pa.Array:
        return pa.array(np.round(values * 1e6).astype(np.int64), pa.int64(), mask=~mask)

    # Paths shaped like an upload bucket's, as the commit holds them (the screenshot check reads them).
    paths = pc.binary_join_element_wise(
        "s3://uploads/photos/", pc.cast(pa.array(np.arange(rows)), pa.string()), ".jpg", ""
    )
    return pa.table(
        {
            "path": paths,
            "status": pa.array(np.where(has_gps, "skipped_gps", "no_landmark")),
            "gps_latitude": pa.array(walk[:, 0], mask=~has_gps),
            "gps_longitude": pa.array(walk[:, 1], mask=~has_gps),
            "estimated_latitude": pa.nulls(rows, pa.float64()),
            "estimated_longitude": pa.nulls(rows, pa.float64()),
            "taken_at": micros(utc, tagged_offset).cast(pa.timestamp("us", tz="UTC")),
            "taken_at_source": pa.array(np.where(tagged_offset, "exif", None)),
            "taken_local": micros(local, np.ones(rows, bool)).cast(pa.timestamp("us")),
            "gps_time": micros(utc, has_gps & (not untied)).cast(pa.timestamp("us", tz="UTC")),
            "camera": pa.array([f"Camera {c}" for c in camera]),
        }
    )


def track_along(table: pa.Table, days: float) -> Fixes:
    """A logger's track over the first `days`: the photos' own places, a point every 10 s."""
    with_gps = table.filter(pc.is_valid(table.column("gps_latitude")))
    times = pc.cast(with_gps.column("gps_time"), pa.int64()).to_numpy() / 1e6
    path = Fixes.of(
        times, with_gps.column("gps_latitude").to_numpy(), with_gps.column("gps_longitude").to_numpy()
    )
    points = np.arange(path.times[0], path.times[0] + days * 86400, 10.0)
    return Fixes.of(points, *path.position_at(points))


def one_size(
    rows: int, cameras: int, gps_share: float, track_days: float, untied: bool, trips: int, nightly: bool
) -> dict:
    table = synthetic(rows, cameras, gps_share, untied, trips=trips)
    track = track_along(table, track_days) if track_days else None
    if nightly:  # last night's output: its locations and names are in the table
        last_night = locate(table, LocateSettings(), track).table
        for name in last_night.column_names:
            if name not in table.column_names:
                table = table.append_column(name, last_night.column(name))
    before = peak_memory_mb()["main_peak_rss_mb"]
    started = time.perf_counter()
    located = locate(table, LocateSettings(), track).table
    by_zone = pc.sum(pc.equal(located.column("taken_at_source"), "zone")).as_py() or 0
    seconds = time.perf_counter() - started
    sources = located.column("location_source").value_counts().to_pylist()
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_added_mb": peak_memory_mb()["main_peak_rss_mb"] - before,
        "table_mb": table.nbytes / 2**20,
        "sources": {str(item["values"]): item["counts"] for item in sources},
        "utc_by_zone": by_zone,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="1000000,10000000")
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--gps-share", type=float, default=0.3)
    parser.add_argument("--track-days", type=float, default=0.0)
    parser.add_argument(
        "--untied", action="store_true", help="no offset tags, no GPS times: every UTC from the time zone"
    )
    parser.add_argument("--trips", type=int, default=0, help="trips starting at places around the world")
    parser.add_argument("--nightly", action="store_true", help="time the pass on last night's output")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        options = (args.cameras, args.gps_share, args.track_days, args.untied, args.trips, args.nightly)
        print(json.dumps(one_size(args.one, *options)))
        return
    columns = ["rows", "seconds", "rows/s", "input columns MB", "memory added MB", "located by time",
               "by track", "UTC by zone"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for rows in [int(r) for r in args.rows.split(",")]:
        options = ["--cameras", str(args.cameras), "--gps-share", str(args.gps_share),
                   "--track-days", str(args.track_days), *(["--untied"] if args.untied else []),
                   "--trips", str(args.trips), *(["--nightly"] if args.nightly else [])]  # fmt: skip
        result = run_fresh(["-m", "benchmarks.perf.locate_scale", "--one", str(rows)], *options)
        by_time = result["sources"].get("time", 0) / rows
        by_track = result["sources"].get("track", 0) / rows
        by_zone = result["utc_by_zone"] / rows
        print(
            f"| {rows:,} | {result['seconds']:.1f} | {rows / result['seconds']:,.0f} | "
            f"{result['table_mb']:,.0f} | {result['peak_added_mb']:,.0f} | {by_time:.0%} | {by_track:.0%} | "
            f"{by_zone:.0%} |"
        )


if __name__ == "__main__":
    main()
