"""Which clock each photo's time is on, and how clocks relate: a camera's offset from UTC, learned
from its photos that carry both its clock and a GPS time; and a track's offset from a camera's
clock, found by aligning that camera's photos with GPS to the track."""

from __future__ import annotations

import numpy as np

from landmark_tag.pipeline.commit.fixes import Fixes, distance_m

# A camera's clock offsets, learned from its photos with GPS time, must agree this closely (s):
# clocks drift by seconds, and a photo's GPS time is its last fix, seconds old at most.
CLOCK_SPREAD_S = 120.0
# Aligning a camera's photos with GPS to a track: offsets searched (any time zone, a clock a day
# off), how many photos must fall on the track, and how close their median must come (m).
ALIGN_SEARCH_S = 26 * 3600.0
ALIGN_MIN_PHOTOS = 3
ALIGN_MAX_M = 50.0
ALIGN_MAX_PHOTOS = 400  # spread evenly over the camera's photos: enough to align, quick to search


def groups(keys: np.ndarray, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """`rows` grouped by their `keys` (one sort, not a scan of every row per key)."""
    if not len(keys):
        return []
    order = np.argsort(keys, kind="stable")
    keys, rows = keys[order], rows[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    return [(int(keys[a]), rows[a:b]) for a, b in zip(starts, ends, strict=True)]


def camera_offsets(local: np.ndarray, gps_time: np.ndarray, cameras: np.ndarray) -> dict[int, float]:
    """Per camera code, its clock minus UTC in seconds, learned from its photos with both times,
    where they agree within CLOCK_SPREAD_S."""
    both = np.flatnonzero(~np.isnan(local) & ~np.isnan(gps_time) & (cameras >= 0))
    offsets: dict[int, float] = {}
    for camera, rows in groups(cameras[both], both):
        differences = local[rows] - gps_time[rows]
        median = float(np.median(differences))
        if np.max(np.abs(differences - median)) <= CLOCK_SPREAD_S:
            offsets[camera] = median
    return offsets


def align(track: Fixes, times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> float | None:
    """The seconds to add to `times` (photos with GPS, on one clock) for the track to be where
    their GPS says, or None when no offset brings ALIGN_MIN_PHOTOS of them within ALIGN_MAX_M (in
    the median) of it."""
    if len(times) > ALIGN_MAX_PHOTOS:
        pick = np.linspace(0, len(times) - 1, ALIGN_MAX_PHOTOS).astype(int)
        times, lat, lon = times[pick], lat[pick], lon[pick]
    best: tuple[float, float] | None = None  # (median distance, offset)
    centre, width, step = 0.0, ALIGN_SEARCH_S, 60.0
    for _ in range(2):  # minutes over a day each way, then seconds around the best minute
        for offset in np.arange(centre - width, centre + width + step / 2, step):
            track_lat, track_lon = track.position_at(times + offset)
            on_track = ~np.isnan(track_lat)
            if on_track.sum() < ALIGN_MIN_PHOTOS:
                continue
            distance = float(
                np.median(distance_m(track_lat[on_track], track_lon[on_track], lat[on_track], lon[on_track]))
            )
            if best is None or distance < best[0]:
                best = (distance, float(offset))
        if best is None:
            return None
        centre, width, step = best[1], 60.0, 1.0
    return best[1] if best is not None and best[0] <= ALIGN_MAX_M else None
