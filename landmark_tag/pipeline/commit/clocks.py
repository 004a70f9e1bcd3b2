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


def _median_distance(track: Fixes, times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> float | None:
    """How far the photos are from the track at their times, in the median; None when fewer than
    ALIGN_MIN_PHOTOS fall on it."""
    track_lat, track_lon = track.position_at(times)
    on_track = ~np.isnan(track_lat)
    if on_track.sum() < ALIGN_MIN_PHOTOS:
        return None
    return float(
        np.median(distance_m(track_lat[on_track], track_lon[on_track], lat[on_track], lon[on_track]))
    )


def align(
    track: Fixes, times: np.ndarray, lat: np.ndarray, lon: np.ndarray, expected: float | None = None
) -> float | None:
    """The seconds to add to `times` (photos with GPS, on one clock) for the track to be where
    their GPS says, or None when no offset brings ALIGN_MIN_PHOTOS of them within ALIGN_MAX_M (in
    the median) of it. An `expected` offset (0 for photos in UTC: GPX times are UTC) is kept when
    the photos agree with the track there: a search would only fit their GPS noise."""
    if len(times) > ALIGN_MAX_PHOTOS:
        pick = np.linspace(0, len(times) - 1, ALIGN_MAX_PHOTOS).astype(int)
        times, lat, lon = times[pick], lat[pick], lon[pick]
    if expected is not None:
        distance = _median_distance(track, times + expected, lat, lon)
        if distance is not None and distance <= ALIGN_MAX_M:
            return expected
    best: tuple[float, float] | None = None  # (median distance, offset)
    centre, width, step = 0.0, ALIGN_SEARCH_S, 60.0
    for _ in range(2):  # minutes over a day each way, then seconds around the best minute
        for offset in np.arange(centre - width, centre + width + step / 2, step):
            distance = _median_distance(track, times + offset, lat, lon)
            if distance is not None and (best is None or distance < best[0]):
                best = (distance, float(offset))
        if best is None:
            return None
        centre, width, step = best[1], 60.0, 1.0
    return best[1] if best is not None and best[0] <= ALIGN_MAX_M else None


# A camera with no photo that has GPS, beside a track: its clock is taken to be set to a time zone
# (whole or half hours from UTC, within SPAN_SOLAR_S of the sun's time where the track is), and the
# one such offset that puts nearly all of its photos of the trip inside the track's recorded stretches
# is its offset. Ambiguity (a track recording all day) finds none.
SPAN_STEP_S = 1800.0
SPAN_SOLAR_S = 3.5 * 3600.0
SPAN_MIN_PHOTOS = 3
SPAN_MIN_SHARE = 0.9  # of the photos that some offset could put on the trip
SPAN_MARGIN = 2  # the next best offset must leave at least this many more of them off the track
SPAN_TRACK_STEP_S = 600.0  # track points further apart are a gap in the recording
SPAN_TRIP_GAP_S = 6 * 3600.0  # a longer gap starts another trip, aligned on its own
# Such a clock is still off its zone by seconds to minutes: the photo's radius grows by how far the
# track goes within this much time of it.
SPAN_CLOCK_S = 300.0


def align_by_span(track: Fixes, times: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """For photos on one clock that have no GPS to align on: the seconds to add to each to get the
    track's clock (NaN where none is found), and the offsets found, one per trip they matched."""
    offsets = np.full(len(times), np.nan)
    found: list[float] = []
    for trip in track.trips(SPAN_TRIP_GAP_S):
        if len(trip) < 2:
            continue
        solar = float(np.median(trip.lon)) / 15.0 * 3600.0  # the sun's time minus UTC, there
        low = np.ceil((-solar - SPAN_SOLAR_S) / SPAN_STEP_S) * SPAN_STEP_S
        candidates = np.arange(low, -solar + SPAN_SOLAR_S, SPAN_STEP_S)
        near = np.flatnonzero(
            np.isnan(offsets)
            & (times + candidates[-1] >= trip.times[0])
            & (times + candidates[0] <= trip.times[-1])
        )
        if len(near) < SPAN_MIN_PHOTOS:
            continue
        counts = np.array([trip.covers(times[near] + c, SPAN_TRACK_STEP_S).sum() for c in candidates])
        best = int(np.argmax(counts))
        runner_up = int(np.max(np.delete(counts, best), initial=0))
        if (
            counts[best] < max(SPAN_MIN_PHOTOS, SPAN_MIN_SHARE * len(near))
            or runner_up > counts[best] - SPAN_MARGIN
        ):
            continue
        on_trip = near[trip.covers(times[near] + candidates[best], SPAN_TRACK_STEP_S)]
        offsets[on_trip] = candidates[best]
        found.append(float(candidates[best]))
    return offsets, found
