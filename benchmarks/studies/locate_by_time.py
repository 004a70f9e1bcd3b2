"""How well photos are located by time: hide the GPS of some photos, scan, and compare.

    python -m benchmarks.studies.locate_by_time FOLDER... --model MODEL [--seeds 0,1,2] [--hide 0.5]

Each FOLDER holds one sequence of photos with GPS (a trip, a flight). For each seed, a copy of it has
the GPS of a seeded random share of its photos removed (`--hide`; the whole GPS block, its time
included, as `exiftool -gps:all=` does; the pixels are re-encoded, which changes nothing here), and
`landmark-tag scan` runs over the copy, then again with `--gpx` for the folder's GPX tracks, if it
has any. For the photos whose GPS was hidden it reports the share located, the median,
90th-percentile and largest error against their real GPS, and the share within the radius the scan
stated. Beside it, the naive clock that exiftool-style tools use: every photo's
DateTimeOriginal taken as one clock, interpolated between the nearest photos with GPS at most 1800 s
apart (exiftool's GeoMaxIntSecs), else the nearest within 1800 s (GeoMaxExtSecs), with no radius;
and for tracks, `exiftool -geotag` without `-geosync`: the camera's clock read as UTC.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from landmark_tag.files.discover import IMAGE_EXTENSIONS
from landmark_tag.files.results import read_results
from landmark_tag.locating.earth import distance_m
from landmark_tag.locating.exif import read_exif
from landmark_tag.locating.tracks import read_tracks
from landmark_tag.pipeline.scan import ScanConfig, scan

NAIVE_MAX_SECONDS = 1800.0


def hide_gps(path: Path) -> None:
    with Image.open(path) as image:
        exif = image.getexif()
        exif.get_ifd(ExifTags.IFD.GPSInfo)  # loaded, so that deleting it drops it
        del exif[ExifTags.IFD.GPSInfo]
        image.load()
        image.save(path, quality=95, exif=exif.tobytes())


def naive(truth: dict[str, tuple], hidden: list[str], clocks: dict[str, float]) -> dict[str, tuple]:
    """exiftool-style: one clock for every photo, fixed gaps, no radius."""
    fixes = sorted((clocks[name], truth[name]) for name in truth if name not in hidden and name in clocks)
    times = np.array([t for t, _ in fixes])
    found = {}
    for name in hidden:
        if name not in clocks or not len(fixes):
            continue
        t = clocks[name]
        after = int(np.searchsorted(times, t))
        if 0 < after < len(fixes) and times[after] - times[after - 1] <= NAIVE_MAX_SECONDS:
            (t0, p0), (t1, p1) = fixes[after - 1], fixes[after]
            share = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
            found[name] = (p0[0] + share * (p1[0] - p0[0]), p0[1] + share * (p1[1] - p0[1]))
            continue
        nearest = min((i for i in (after - 1, after) if 0 <= i < len(fixes)), key=lambda i: abs(times[i] - t))
        if abs(times[nearest] - t) <= NAIVE_MAX_SECONDS:
            found[name] = fixes[nearest][1]
    return found


def meters(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(distance_m(np.array(a[0]), np.array(a[1]), np.array(b[0]), np.array(b[1])))


def measured(rows, truth: dict[str, tuple], hidden: list[str]) -> tuple[list[float], list[bool]]:
    """Each located hidden photo's error (m), and whether it is within the radius stated."""
    errors, within = [], []
    for name in hidden:
        row = rows.loc[name]
        if not isinstance(row["location_source"], str):  # None, or NaN from pandas
            continue
        error = meters(truth[name], (row["location_latitude"], row["location_longitude"]))
        errors.append(error)
        within.append(error <= row["location_radius_m"])
    return errors, within


def summary(errors: list[float], within: list[bool] | None, hidden: int) -> str:
    if not errors:
        return f"0% | - | - | - | {'-' if within is not None else 'no radius'}"
    located = f"{len(errors) / hidden:.0%}"
    spread = f"{statistics.median(errors):.0f} | {np.percentile(errors, 90):.0f} | {max(errors):.0f}"
    inside = f"{sum(within) / len(within):.0%}" if within is not None else "no radius"
    return f"{located} | {spread} | {inside}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--hide", type=float, default=0.5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print("| sequence | seed | method | hidden | located | median m | p90 m | max m | within radius |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for folder in args.folders:
        names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        truth, clocks = {}, {}
        for name in names:
            with open(folder / name, "rb") as handle:
                exif = read_exif(handle)
            if exif.gps is not None:
                truth[name] = (exif.gps.latitude, exif.gps.longitude)
            if exif.taken.local is not None:
                moment = datetime.fromisoformat(exif.taken.local).replace(tzinfo=timezone.utc)
                clocks[name] = moment.timestamp()
        tracks = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() == ".gpx")
        track = read_tracks(tracks) if tracks else None
        if track is not None:  # every photo's GPS hidden: the track alone, seeds make no difference
            everything = sorted(truth)
            rows = scanned(folder, everything, args.model, tuple(tracks))
            result = summary(*measured(rows, truth, everything), len(everything))
            print(f"| {folder.name} | - | landmark-tag --gpx, all hidden | {len(everything)} | {result} |")
            on_track = naive_track(track, everything, clocks)
            errors = [meters(truth[n], on_track[n]) for n in on_track]
            naive_result = summary(errors, None, len(everything))
            print(
                f"| {folder.name} | - | naive clock --gpx, all hidden | {len(everything)} | {naive_result} |"
            )
        for seed in [int(s) for s in args.seeds.split(",")]:
            hidden = sorted(random.Random(seed).sample(sorted(truth), round(len(truth) * args.hide)))
            runs = {"landmark-tag": ()} | ({"landmark-tag --gpx": tuple(tracks)} if tracks else {})
            results = []
            for method, gpx in runs.items():
                errors, within = measured(scanned(folder, hidden, args.model, gpx), truth, hidden)
                results.append((method, summary(errors, within, len(hidden))))
            found = naive(truth, hidden, clocks)
            results.append(
                ("naive clock", summary([meters(truth[n], found[n]) for n in found], None, len(hidden)))
            )
            if track is not None:
                on_track = naive_track(track, hidden, clocks)
                errors = [meters(truth[n], on_track[n]) for n in on_track]
                results.append(("naive clock --gpx", summary(errors, None, len(hidden))))
            for method, result in results:
                print(f"| {folder.name} | {seed} | {method} | {len(hidden)} | {result} |")


def scanned(folder: Path, hidden: list[str], model: str, gpx: tuple[str, ...]):
    """The scan's rows, by file name, of a copy of `folder` with the GPS of `hidden` removed."""
    with tempfile.TemporaryDirectory() as temp:
        copy = Path(temp) / folder.name
        shutil.copytree(folder, copy)
        for name in hidden:
            hide_gps(copy / name)
        out = Path(temp) / "tags.parquet"
        scan(ScanConfig([str(copy)], str(out), model=model, gpx=gpx))
        rows = read_results(out)
    rows["name"] = rows["path"].map(lambda p: Path(p).name)
    return rows.set_index("name")


def naive_track(track, hidden: list[str], clocks: dict[str, float]) -> dict[str, tuple]:
    """exiftool -geotag without -geosync: the camera's clock read as UTC, 1800 s limits."""
    found = {}
    for name in hidden:
        if name not in clocks:
            continue
        t = clocks[name]
        after = int(np.searchsorted(track.times, t))
        if 0 < after < len(track) and track.times[after] - track.times[after - 1] <= NAIVE_MAX_SECONDS:
            t0, t1 = track.times[after - 1], track.times[after]
            share = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
            lat = track.lat[after - 1] + share * (track.lat[after] - track.lat[after - 1])
            lon = track.lon[after - 1] + share * (track.lon[after] - track.lon[after - 1])
            found[name] = (lat, lon)
            continue
        near = [i for i in (after - 1, after) if 0 <= i < len(track)]
        nearest = min(near, key=lambda i: abs(track.times[i] - t)) if near else None
        if nearest is not None and abs(track.times[nearest] - t) <= NAIVE_MAX_SECONDS:
            found[name] = (track.lat[nearest], track.lon[nearest])
    return found


if __name__ == "__main__":
    main()
