"""Which clock each photo's time is on, and how clocks relate: a camera's offset from UTC, learned
from its photos that carry both its clock and a GPS time; and a track's offset from a camera's
clock, found by aligning that camera's photos with GPS to the track."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from landmark_tag.locating.earth import distance_m
from landmark_tag.locating.fixes import TRACK_GAP_S, Fixes

# A camera's clock offsets, learned from its photos with GPS time, must agree this closely (s):
# clocks drift by seconds, and a photo's GPS time is its last fix, seconds old at most.
CLOCK_SPREAD_S = 120.0
# ... on at least this many photos: one photo's GPS time can be hours stale, with nothing to say so.
CLOCK_MIN_PHOTOS = 2
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
    where at least CLOCK_MIN_PHOTOS of them agree within CLOCK_SPREAD_S."""
    both = np.flatnonzero(~np.isnan(local) & ~np.isnan(gps_time) & (cameras >= 0))
    offsets: dict[int, float] = {}
    for camera, rows in groups(cameras[both], both):
        if len(rows) < CLOCK_MIN_PHOTOS:
            continue
        differences = local[rows] - gps_time[rows]
        median = float(np.median(differences))
        if np.max(np.abs(differences - median)) <= CLOCK_SPREAD_S:
            offsets[camera] = median
    return offsets


def _median_distances(
    track: Fixes, times: np.ndarray, offsets: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> np.ndarray:
    """Per offset, how far the photos are from the track at their times plus it, in the median; NaN
    where fewer than ALIGN_MIN_PHOTOS fall on it. All offsets at once: a camera's search is one
    array operation, not thousands (the pass runs for every camera on every --gpx run)."""
    track_lat, track_lon = track.position_at(times[None, :] + offsets[:, None])
    apart = distance_m(track_lat, track_lon, lat[None, :], lon[None, :])
    on_track = (~np.isnan(apart)).sum(axis=1)
    medians = np.full(len(offsets), np.nan)
    enough = on_track >= ALIGN_MIN_PHOTOS
    if enough.any():
        medians[enough] = np.nanmedian(apart[enough], axis=1)
    return medians


@dataclass(frozen=True)
class Alignment:
    """A track tied to one clock: the seconds to add to it, and how far the photos with GPS lay from
    the track then (the median: how much the camera's receiver and the track's disagree)."""

    offset: float
    median_m: float


def align(
    track: Fixes, times: np.ndarray, lat: np.ndarray, lon: np.ndarray, expected: float | None = None
) -> Alignment | None:
    """The seconds to add to `times` (photos with GPS, on one clock) for the track to be where
    their GPS says, or None when no offset brings ALIGN_MIN_PHOTOS of them within ALIGN_MAX_M (in
    the median) of it. An `expected` offset (0 for photos in UTC: GPX times are UTC) is kept when
    the photos agree with the track there: a search would only fit their GPS noise."""
    if len(times) > ALIGN_MAX_PHOTOS:
        pick = np.linspace(0, len(times) - 1, ALIGN_MAX_PHOTOS).astype(int)
        times, lat, lon = times[pick], lat[pick], lon[pick]
    if expected is not None:
        (distance,) = _median_distances(track, times, np.array([expected]), lat, lon)
        if distance <= ALIGN_MAX_M:
            return Alignment(expected, float(distance))
    # Only offsets that can put photos on the track at all are tried.
    low = max(-ALIGN_SEARCH_S, track.times[0] - times.max())
    high = min(ALIGN_SEARCH_S, track.times[-1] - times.min())
    if low > high:
        return None
    best: Alignment | None = None
    centre, width, step = 0.0, ALIGN_SEARCH_S, 60.0
    for _ in range(2):  # minutes over a day each way, then seconds around the best minute
        offsets = np.arange(centre - width, centre + width + step / 2, step)
        offsets = offsets[(offsets >= low - step) & (offsets <= high + step)]
        distances = _median_distances(track, times, offsets, lat, lon)
        if np.isnan(distances).all():
            return None
        i = int(np.nanargmin(distances))
        if best is None or distances[i] < best.median_m:
            best = Alignment(float(offsets[i]), float(distances[i]))
        centre, width, step = best.offset, 60.0, 1.0
    return best if best is not None and best.median_m <= ALIGN_MAX_M else None


# A camera with no photo that has GPS, beside a track: its clock is taken to be set to a time zone
# (whole or half hours from UTC, within SPAN_SOLAR_S of the sun's time where the track is), and the
# one such offset that puts nearly all of its photos that fall within the trip's first and last point
# inside the track's recorded stretches is its offset. Photos taken before the track starts or after
# it ends (the drive to a trailhead) say nothing either way. Ambiguity (a track recording all day)
# finds none.
SPAN_STEP_S = 1800.0
SPAN_SOLAR_S = 3.5 * 3600.0
SPAN_MIN_PHOTOS = 3
SPAN_MIN_SHARE = 0.9  # of the photos the offset puts within the trip's span
SPAN_MARGIN = 2  # the next best offset must leave at least this many more of them off the track
SPAN_TRIP_GAP_S = 6 * 3600.0  # a longer gap starts another trip, aligned on its own
# Such a clock is still off its zone by seconds to minutes: the photo's radius grows by how far the
# track goes within this much time of it.
SPAN_CLOCK_S = 300.0


@dataclass(frozen=True)
class SpanAlignment:
    """What `align_by_span` found: per photo the seconds to add (NaN where none), the offsets found
    (one per trip matched), and the trips where photos fell but no offset could be trusted."""

    offsets: np.ndarray
    found: list[float]
    abstained: list[str]


def _median_longitude(lon: np.ndarray) -> float:
    """The middle of a trip's longitudes, across the antimeridian too (a circular mean)."""
    radians = np.radians(lon)
    return float(np.degrees(np.arctan2(np.mean(np.sin(radians)), np.mean(np.cos(radians)))))


def align_by_span(track: Fixes, times: np.ndarray) -> SpanAlignment:
    """For photos on one clock that have no GPS to align on: the seconds to add to each to get the
    track's clock, found per trip of the track."""
    offsets = np.full(len(times), np.nan)
    found: list[float] = []
    abstained: list[str] = []
    for trip in track.trips(SPAN_TRIP_GAP_S):
        if len(trip) < 2:
            continue
        solar = _median_longitude(trip.lon) / 15.0 * 3600.0  # the sun's time minus UTC, there
        low = np.ceil((-solar - SPAN_SOLAR_S) / SPAN_STEP_S) * SPAN_STEP_S
        candidates = np.arange(low, -solar + SPAN_SOLAR_S, SPAN_STEP_S)
        near = np.flatnonzero(
            np.isnan(offsets)
            & (times + candidates[-1] >= trip.times[0])
            & (times + candidates[0] <= trip.times[-1])
        )
        if len(near) < SPAN_MIN_PHOTOS:
            continue
        shifted = times[near][None, :] + candidates[:, None]
        within = ((shifted >= trip.times[0]) & (shifted <= trip.times[-1])).sum(axis=1)
        counts = np.array([trip.covers(times[near] + c, TRACK_GAP_S).sum() for c in candidates])
        best = int(np.argmax(counts))
        runner_up = int(np.max(np.delete(counts, best), initial=0))
        if (
            counts[best] < max(SPAN_MIN_PHOTOS, SPAN_MIN_SHARE * within[best])
            or runner_up > counts[best] - SPAN_MARGIN
        ):
            start = datetime.fromtimestamp(trip.times[0], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            why = "several time zones fit" if runner_up > counts[best] - SPAN_MARGIN else "no time zone fits"
            abstained.append(f"the track from {start} ({why})")
            continue
        on_trip = near[trip.covers(times[near] + candidates[best], TRACK_GAP_S)]
        offsets[on_trip] = candidates[best]
        found.append(float(candidates[best]))
    return SpanAlignment(offsets, found, abstained)
