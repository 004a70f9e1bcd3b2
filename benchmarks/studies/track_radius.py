"""Whether the radius of a location on a GPS track holds: how often a photo's own GPS lies within the
radius stated for the location the track gives it, on real and on simulated tracks.

    python -m benchmarks.studies.track_radius SEQUENCE_FOLDER... [--seeds 0,1,2] [--fix-radius 20,35,50]

For each folder of photos with GPS: the tracks it holds (its `.gpx` files, each alone and all
together), and tracks simulated from its photos' own fixes as a logger records them (a point every
1, 5 or 15 s at a random phase, each with a GPS error that drifts slowly: an AR(1) walk of 5, 10 or
20 m a side, 60 s correlation). Every photo's GPS is hidden in turn in two ways: all at once (the
clock given, as --gpx-offset does), and a seeded half (the clock aligned on the other half). For
each track radius tried (`--fix-radius`, the track point's own term of the radius) it reports the
share of located photos whose GPS lies within the stated radius, and the median and 90th-percentile
error. No scan runs: the photos' EXIF is read once and the location pass (`locate`) runs on it.
A second table pools the simulated tracks per drift and radius: the mean share within the radius
over the samplings and seeds, and the worst one.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from landmark_tag.files.discover import IMAGE_EXTENSIONS
from landmark_tag.files.results import result_schema
from landmark_tag.locating.earth import distance_m
from landmark_tag.locating.exif import read_exif
from landmark_tag.locating.fixes import Fixes, LocateSettings
from landmark_tag.locating.locate import INPUT_COLUMNS, locate
from landmark_tag.locating.tracks import read_tracks

# What the location pass reads, typed as the output has it.
SCHEMA = pa.schema([result_schema(1).field(name) for name in INPUT_COLUMNS])


def photos(folder: Path) -> list[dict]:
    """Each photo with GPS: its fix, its clock (seconds, as if UTC), its offset's UTC, camera."""
    found = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS):
        with open(path, "rb") as handle:
            exif = read_exif(handle)
        if exif.gps is None or exif.taken.local is None:
            continue
        local = datetime.fromisoformat(exif.taken.local).replace(tzinfo=timezone.utc).timestamp()
        found.append(
            {
                "lat": exif.gps.latitude,
                "lon": exif.gps.longitude,
                "local": local,
                "utc": exif.taken.utc,
                "gps_time": exif.taken.gps_utc,
                "camera": exif.camera,
            }
        )
    return found


def table(shots: list[dict], hidden: set[int]) -> pa.Table:
    def micros(seconds):
        return None if seconds is None else round(seconds * 1e6)

    rows = []
    for i, shot in enumerate(shots):
        own = i not in hidden
        rows.append(
            {
                "status": "skipped_gps" if own else "no_landmark",
                "gps_latitude": shot["lat"] if own else None,
                "gps_longitude": shot["lon"] if own else None,
                "estimated_latitude": None,
                "estimated_longitude": None,
                "taken_at": micros(shot["utc"]),
                "taken_local": micros(shot["local"]),
                "gps_time": micros(shot["gps_time"]) if own else None,
                "camera": shot["camera"],
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def simulated(shots: list[dict], step_s: float, sigma_m: float, seed: int) -> tuple[Fixes, float]:
    """A logger's track along the photos' fixes (on a clock 4 h from theirs), and that offset."""
    rng = np.random.default_rng(seed)
    offset = 4 * 3600.0
    path = Fixes.of(
        np.array([s["local"] for s in shots]),
        np.array([s["lat"] for s in shots]),
        np.array([s["lon"] for s in shots]),
    )
    times = np.arange(path.times[0] + rng.uniform(0, step_s), path.times[-1], step_s)
    lat, lon = path.position_at(times)
    keep = 1.0 - step_s / 60.0  # AR(1): the error drifts with a 60 s correlation
    drift = np.zeros((len(times), 2))
    for i in range(len(times)):
        previous = drift[i - 1] if i else rng.normal(0, sigma_m, 2)
        drift[i] = keep * previous + np.sqrt(1 - keep**2) * rng.normal(0, sigma_m, 2)
    lat = lat + drift[:, 0] / 111_320.0
    lon = lon + drift[:, 1] / (111_320.0 * np.cos(np.radians(lat)))
    return Fixes.of(times + offset, lat, lon), offset


def measure(shots, track: Fixes, clock_offset: float | None, fix_radius: float, seeds) -> list[str]:
    """[all hidden, half hidden (seeds pooled)]: 'within% (median m, p90 m, located n/N)'."""
    results = []
    truth_lat = np.array([s["lat"] for s in shots])
    truth_lon = np.array([s["lon"] for s in shots])
    settings = replace(LocateSettings(), track_fix_radius_m=fix_radius)
    cases = [(set(range(len(shots))), replace(settings, gpx_offset_s=clock_offset))]
    cases += [
        (set(random.Random(seed).sample(range(len(shots)), len(shots) // 2)), settings) for seed in seeds
    ]
    pooled: list[tuple[list[float], list[bool], int]] = []
    for hidden, case_settings in cases:
        located = locate(table(shots, hidden), case_settings, track).table.to_pydict()
        errors, within = [], []
        for i in sorted(hidden):
            if located["location_source"][i] != "track":
                continue
            at = (np.array(located["location_latitude"][i]), np.array(located["location_longitude"][i]))
            error = float(distance_m(truth_lat[i], truth_lon[i], *at))
            errors.append(error)
            within.append(error <= located["location_radius_m"][i])
        pooled.append((errors, within, len(hidden)))
    for group in (pooled[:1], pooled[1:]):
        errors = [e for g in group for e in g[0]]
        within = [w for g in group for w in g[1]]
        total = sum(g[2] for g in group)
        if not errors:
            results.append(f"- (0/{total})")
            continue
        share = sum(within) / len(within)
        results.append(
            f"{share:.0%} ({np.median(errors):.0f}, {np.percentile(errors, 90):.0f} m; {len(errors)}/{total})"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fix-radius", default="20,35,50")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    radii = [float(r) for r in args.fix_radius.split(",")]
    pooled: dict[tuple[str, str, float, str], list[int]] = {}
    print("| sequence | track | fix radius m | all hidden: within (median, p90; located) | half hidden |")
    print("| --- | --- | --- | --- | --- |")
    for folder in args.folders:
        shots = photos(folder)
        tracks: list[tuple[str, Fixes, float | None]] = []
        gpx = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gpx")
        # The real tracks' clock: the photos' clock minus their GPS time, in the median.
        offsets = [s["gps_time"] - s["local"] for s in shots if s["gps_time"] is not None]
        real_offset = float(np.median(offsets)) if offsets else None
        for files in [[g] for g in gpx] + ([gpx] if len(gpx) > 1 else []):
            track = read_tracks([str(f) for f in files])
            if track is not None:
                tracks.append((" + ".join(f.name for f in files), track, real_offset))
        for step in (1.0, 5.0, 15.0):
            for sigma in (5.0, 10.0, 20.0):
                for seed in seeds:
                    track, offset = simulated(shots, step, sigma, seed)
                    tracks.append((f"simulated {step:.0f} s, {sigma:.0f} m, seed {seed}", track, offset))
        for name, track, offset in tracks:
            for radius in radii:
                all_hidden, half = measure(shots, track, offset, radius, seeds)
                print(f"| {folder.name} | {name} | {radius:.0f} | {all_hidden} | {half} |")
                if name.startswith("simulated"):
                    drift = name.split(", ")[1]
                    for case, text in (("all hidden", all_hidden), ("half hidden", half)):
                        if text[0].isdigit():
                            pooled.setdefault((folder.name, drift, radius, case), []).append(
                                int(text.split("%")[0])
                            )
    print("\n| sequence | simulated drift | fix radius m | hidden | within radius: mean | worst |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (sequence, drift, radius, case), values in pooled.items():
        print(f"| {sequence} | {drift} | {radius:.0f} | {case} | {np.mean(values):.0f}% | {min(values)}% |")


if __name__ == "__main__":
    main()
