"""One location per photo, from the best source: its own GPS, then photos taken close in time, then
its landmark. A table operation on the whole output at commit, with no model, on both engines.

**Clocks.** A photo's capture time is the camera's clock (`taken_local`), in whatever zone it was
set to. It is tied to UTC by the photo's own offset tag (`taken_at`), or by the camera's offset
learned from its photos that carry both the clock and a GPS time (the median difference, trusted
when they agree within `CLOCK_SPREAD_S`). A camera's own photos need no UTC at all: they are
compared on its own clock. Nothing is located by a clock that cannot be trusted.

**Time neighbours.** A photo without GPS taken between two fixes (photos with GPS) gets the point
between them in proportion to the time, from the same camera on its own clock, or from any device
in UTC; with a fix on one side only, that fix. Its radius grows with the time to the nearer fix and
with how far the fixes are apart (`LocateSettings.radius_m`, fitted on real sequences: see
docs/quality.md). Beyond `max_radius_m`, or between fixes too far apart in time or implying a speed
no photographer travels at, it gets none.

**One source.** Own GPS wins; then time; then the landmark of a `tagged` row. When time and landmark
disagree beyond their radii, the photo gets no location and `location_note` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.results import Status

# A camera's clock offsets, learned from its photos with GPS time, must agree this closely (s):
# clocks drift by seconds, and a photo's GPS time is its last fix, seconds old at most.
CLOCK_SPREAD_S = 120.0

SOURCES = ("gps", "time", "landmark")
# What `locate` reads of the output.
INPUT_COLUMNS = [
    "status", "gps_latitude", "gps_longitude", "estimated_latitude", "estimated_longitude",
    "taken_at", "taken_local", "gps_time", "camera",
]  # fmt: skip

NOTE_DISAGREE = "time and landmark disagree"
NOTE_FIXES_DISAGREE = "the fixes around it disagree"


@dataclass(frozen=True)
class LocateSettings:
    """The limits of locating by time (defaults measured on real sequences: docs/quality.md)."""

    fix_radius_m: float = 20.0  # a GPS fix's own uncertainty
    stray_m_per_s: float = 0.5  # how far the photo may be from the line, per second to the nearer fix
    spread_share: float = 0.25  # and per metre between the two fixes (a path is seldom straight)
    max_radius_m: float = 3000.0  # larger radii are no location
    max_gap_s: float = 4 * 3600.0  # fixes further apart in time are not interpolated between
    max_speed_m_per_s: float = 100.0  # fixes that imply a faster trip disagree (two devices apart)
    landmark_radius_m: float = 2000.0  # a landmark is often photographed from afar

    def radius_m(self, to_nearer_s: np.ndarray, between_m: np.ndarray) -> np.ndarray:
        return self.fix_radius_m + self.stray_m_per_s * to_nearer_s + self.spread_share * between_m


def distance_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _seconds(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as float seconds, NaN where empty (naive ones as their wall clock)."""
    micros = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(micros, dtype=float) / 1e6


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


@dataclass
class _Candidates:
    """The best time-based location found so far for every row (NaN: none)."""

    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    fixes_disagree: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Candidates:
        nan = np.full(n, np.nan)
        return cls(nan.copy(), nan.copy(), nan.copy(), np.zeros(n, dtype=bool))

    def offer(self, rows: np.ndarray, lat, lon, radius, disagree) -> None:
        better = ~np.isnan(radius) & ~(radius >= self.radius[rows])
        chosen = rows[better]
        self.lat[chosen], self.lon[chosen], self.radius[chosen] = lat[better], lon[better], radius[better]
        self.fixes_disagree[rows[disagree]] = True


def camera_offsets(local: np.ndarray, gps_time: np.ndarray, cameras: np.ndarray) -> dict[int, float]:
    """Per camera code, its clock minus UTC in seconds, learned from its photos with both times,
    where they agree within CLOCK_SPREAD_S."""
    both = np.flatnonzero(~np.isnan(local) & ~np.isnan(gps_time) & (cameras >= 0))
    offsets: dict[int, float] = {}
    for camera, rows in _groups(cameras[both], both):
        differences = local[rows] - gps_time[rows]
        median = float(np.median(differences))
        if np.max(np.abs(differences - median)) <= CLOCK_SPREAD_S:
            offsets[camera] = median
    return offsets


def _groups(keys: np.ndarray, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """`rows` grouped by their `keys` (one sort, not a scan of every row per key)."""
    if not len(keys):
        return []
    order = np.argsort(keys, kind="stable")
    keys, rows = keys[order], rows[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    return [(int(keys[a]), rows[a:b]) for a, b in zip(starts, ends, strict=True)]


def _neighbours(
    times: np.ndarray,
    fixes: np.ndarray,
    targets: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    settings: LocateSettings,
    found: _Candidates,
) -> None:
    """Offer every target row a location from the fix rows around it on the clock `times`."""
    fixes = fixes[np.argsort(times[fixes], kind="stable")]
    targets = targets[~np.isnan(times[targets])]
    if not len(fixes) or not len(targets):
        return
    fix_times = times[fixes]
    after = np.searchsorted(fix_times, times[targets], side="left")
    before = after - 1
    has_before, has_after = before >= 0, after < len(fixes)
    b, a = fixes[np.clip(before, 0, len(fixes) - 1)], fixes[np.clip(after, 0, len(fixes) - 1)]
    t = times[targets]
    to_before = np.where(has_before, t - times[b], np.inf)
    to_after = np.where(has_after, times[a] - t, np.inf)
    both = has_before & has_after
    gap = np.where(both, to_before + to_after, np.inf)
    between = np.where(both, distance_m(lat[b], lon[b], lat[a], lon[a]), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(both & (gap > 0), to_before / gap, 0.0)
    speed = np.where(both & (gap > 0), between / np.where(gap > 0, gap, 1.0), 0.0)
    disagree = both & (speed > settings.max_speed_m_per_s)
    interpolate = both & (gap <= settings.max_gap_s) & ~disagree
    nearer_is_before = to_before <= to_after
    nearest = np.where(nearer_is_before, b, a)
    est_lat = np.where(interpolate, lat[b] + share * (lat[a] - lat[b]), lat[nearest])
    est_lon = np.where(interpolate, lon[b] + share * (lon[a] - lon[b]), lon[nearest])
    to_nearer = np.minimum(to_before, to_after)
    radius = settings.radius_m(to_nearer, np.where(interpolate, between, 0.0))
    radius[disagree | (radius > settings.max_radius_m)] = np.nan
    found.offer(targets, est_lat, est_lon, radius, disagree)


def locate(table: pa.Table, settings: LocateSettings) -> pa.Table:
    """The location columns (`results.LOCATION_COLUMN_NAMES`) for every row of `table` (which holds
    at least INPUT_COLUMNS), as a table in the same order."""
    n = table.num_rows
    gps_lat, gps_lon = _floats(table.column("gps_latitude")), _floats(table.column("gps_longitude"))
    own = ~np.isnan(gps_lat) & ~np.isnan(gps_lon)
    local = _seconds(table.column("taken_local"))
    gps_time = _seconds(table.column("gps_time"))
    utc = _seconds(table.column("taken_at"))
    cameras = np.asarray(
        pc.dictionary_encode(table.column("camera")).combine_chunks().indices.to_numpy(zero_copy_only=False),
        dtype=float,
    )
    cameras = np.where(np.isnan(cameras), -1, cameras).astype(np.int64)
    # UTC where the photo says it, else through its camera's learned offset, else its GPS time.
    for camera, offset in camera_offsets(local, gps_time, cameras).items():
        mine = (cameras == camera) & np.isnan(utc)
        utc[mine] = local[mine] - offset
    utc = np.where(np.isnan(utc), gps_time, utc)

    found = _Candidates.empty(n)
    targets = np.flatnonzero(~own)
    fixes = np.flatnonzero(own)
    _neighbours(utc, fixes[~np.isnan(utc[fixes])], targets, gps_lat, gps_lon, settings, found)
    known = np.flatnonzero((cameras >= 0) & ~np.isnan(local))
    for _, rows in _groups(cameras[known], known):  # a camera's own photos, on its own clock
        _neighbours(local, rows[own[rows]], rows[~own[rows]], gps_lat, gps_lon, settings, found)

    tagged = pc.equal(table.column("status"), Status.TAGGED.value).to_numpy(zero_copy_only=False)
    lm_lat = _floats(table.column("estimated_latitude"))
    lm_lon = _floats(table.column("estimated_longitude"))
    landmark = np.asarray(tagged, dtype=bool) & ~np.isnan(lm_lat) & ~own
    by_time = ~np.isnan(found.radius)
    apart = np.where(landmark & by_time, distance_m(found.lat, found.lon, lm_lat, lm_lon), 0.0)
    disagree = landmark & by_time & (apart > found.radius + settings.landmark_radius_m)

    source = np.full(n, None, dtype=object)
    lat, lon, radius = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    note = np.full(n, None, dtype=object)
    use_landmark = landmark & ~by_time
    use_time = by_time & ~disagree
    for mask, name, la, lo, r in (
        (own, "gps", gps_lat, gps_lon, np.full(n, settings.fix_radius_m)),
        (use_time, "time", found.lat, found.lon, found.radius),
        (use_landmark, "landmark", lm_lat, lm_lon, np.full(n, settings.landmark_radius_m)),
    ):
        source[mask], lat[mask], lon[mask], radius[mask] = name, la[mask], lo[mask], r[mask]
    note[disagree] = NOTE_DISAGREE
    note[~own & ~by_time & ~use_landmark & found.fixes_disagree] = NOTE_FIXES_DISAGREE
    located = ~np.isnan(lat)
    return pa.table(
        {
            "location_latitude": pa.array(lat, pa.float64(), mask=~located),
            "location_longitude": pa.array(lon, pa.float64(), mask=~located),
            "location_source": pa.array(source, pa.string()),
            "location_radius_m": pa.array(np.round(radius, 1), pa.float64(), mask=~located),
            "location_note": pa.array(note, pa.string()),
        }
    )
