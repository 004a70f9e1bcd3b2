"""Places known at known times (fixes: photos with GPS, track points), and the location they give a
photo taken between them: the point between the two around it in proportion to the time, or the
nearer one's, with a radius that grows with the time to the nearer fix and the distance between
them (`LocateSettings.radius_m`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from landmark_tag.locating.earth import distance_m

if TYPE_CHECKING:
    from landmark_tag.locating.named_places import NamedPlaces

# Track points further apart in time are a gap in the recording: a photo taken then, or before the
# first point or after the last, is not on the track (the logger was off; the photographer anywhere).
TRACK_GAP_S = 600.0


@dataclass(frozen=True)
class LocateSettings:
    """The limits of locating by time (defaults measured on real sequences: docs/quality.md)."""

    fix_radius_m: float = 20.0  # a GPS fix's own uncertainty
    stray_m_per_s: float = 0.5  # how far the photo may be from the line, per second to the nearer fix
    spread_share: float = 0.25  # and per metre between the two fixes (a path is seldom straight)
    max_radius_m: float = 3000.0  # larger radii are no location
    max_gap_s: float = 4 * 3600.0  # fixes further apart in time are not interpolated between
    max_speed_m_per_s: float = 100.0  # fixes that imply a faster trip disagree (two devices apart)
    # Fixes within a minute of each other and this much further apart than that speed allows
    # contradict each other, also at the same instant (two devices a country apart on one clock): two
    # GPS receivers side by side differ by less. Further apart in time, a pair may be a real trip (a
    # flight), and the speed check between them is enough.
    conflict_m: float = 250.0
    conflict_window_s: float = 60.0
    # A track point's, as a place for a photo taken then: the logger's and the camera's receivers each
    # err, and drift apart by tens of metres in towns, forests and on water. 50 m holds >= 90% on
    # tracks whose error drifts 20 m a side (benchmarks/studies/track_radius.py, docs/quality.md).
    track_fix_radius_m: float = 50.0
    track_gap_s: float = TRACK_GAP_S
    landmark_radius_m: float = 2000.0  # a landmark is often photographed from afar
    gpx_offset_s: float | None = None  # --gpx-offset: add to every camera clock to get the track's
    # Screenshots and other pictures no camera took, placed by time and tracks too (--locate-screenshots):
    # their time says where the phone was, not what they show.
    locate_screenshots: bool = False
    named_places: NamedPlaces | None = None  # --places: names a location, never moves it

    def radius_m(self, to_nearer_s: np.ndarray, between_m: np.ndarray, fix_radius_m: float) -> np.ndarray:
        return fix_radius_m + self.stray_m_per_s * to_nearer_s + self.spread_share * between_m


def wrap_longitude(lon: np.ndarray) -> np.ndarray:
    """Longitudes in [-180, 180)."""
    return (np.asarray(lon) + 180.0) % 360.0 - 180.0


def between_longitudes(lon1: np.ndarray, lon2: np.ndarray, share: np.ndarray) -> np.ndarray:
    """The longitude `share` of the way from lon1 to lon2, the short way round (across the
    antimeridian where that is shorter)."""
    return wrap_longitude(lon1 + share * wrap_longitude(np.asarray(lon2) - lon1))


def valid_coordinates(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Where (lat, lon) is a place: finite, in range, and not 0,0 (what receivers write before a fix)."""
    with np.errstate(invalid="ignore"):
        in_range = (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0)
    return np.isfinite(lat) & np.isfinite(lon) & in_range & ~((lat == 0.0) & (lon == 0.0))


@dataclass(frozen=True)
class Fixes:
    """Fixes sorted by time (seconds on one clock)."""

    times: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def of(cls, times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> Fixes:
        keep = np.isfinite(times) & valid_coordinates(lat, lon)
        order = np.argsort(times[keep], kind="stable")
        return cls(times[keep][order], lat[keep][order], lon[keep][order])

    def __len__(self) -> int:
        return len(self.times)

    def position_at(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Linear positions at `times` (NaN outside the fixes' span), across the antimeridian too."""
        inside = (times >= self.times[0]) & (times <= self.times[-1])
        lat = np.where(inside, np.interp(times, self.times, self.lat), np.nan)
        lon = np.where(inside, wrap_longitude(np.interp(times, self.times, self._unwrapped_lon)), np.nan)
        return lat, lon

    @cached_property
    def _unwrapped_lon(self) -> np.ndarray:
        """Longitudes without the jump at the antimeridian, so that they interpolate the short way."""
        return np.unwrap(self.lon, period=360.0)

    def contradicted(self, settings: LocateSettings) -> np.ndarray:
        """Per fix, whether a fix next to it, within `conflict_window_s`, is further away than any
        trip between them allows (`conflict_m` beyond `max_speed_m_per_s`); fixes at one instant
        share the verdict. Two devices far apart on one clock must place a photo in neither place."""
        if len(self) < 2:
            return np.zeros(len(self), dtype=bool)
        apart = distance_m(self.lat[:-1], self.lon[:-1], self.lat[1:], self.lon[1:])
        step = np.diff(self.times)
        pair = (step <= settings.conflict_window_s) & (
            apart > settings.conflict_m + settings.max_speed_m_per_s * step
        )
        flagged = np.r_[pair, False] | np.r_[False, pair]
        _, instant = np.unique(self.times, return_inverse=True)
        return np.bincount(instant, weights=flagged)[instant] > 0

    def covers(self, times: np.ndarray, max_step_s: float) -> np.ndarray:
        """Whether each time falls between two fixes at most `max_step_s` apart (a recorded stretch,
        not a gap in the recording, and not before or after it)."""
        if len(self) < 2:
            return np.zeros(len(times), dtype=bool)
        after = np.clip(np.searchsorted(self.times, times, side="right"), 1, len(self) - 1)
        start, end = self.times[after - 1], self.times[after]
        return (times >= start) & (times <= end) & (end - start <= max_step_s)

    def extent_m(self, times: np.ndarray, lat: np.ndarray, lon: np.ndarray, within_s: float) -> np.ndarray:
        """How far from (lat, lon) the fixes go within `within_s` of each time (0 where never)."""
        moments = times[:, None] + np.linspace(-within_s, within_s, 21)[None, :]
        track_lat, track_lon = self.position_at(moments)
        apart = distance_m(track_lat, track_lon, lat[:, None], lon[:, None])
        return np.max(np.where(np.isnan(apart), 0.0, apart), axis=1, initial=0.0)

    def trips(self, gap_s: float) -> list[Fixes]:
        """The fixes cut where they stop for longer than `gap_s`."""
        cuts = np.flatnonzero(np.diff(self.times) > gap_s) + 1
        bounds = np.r_[0, cuts, len(self)]
        return [Fixes(self.times[a:b], self.lat[a:b], self.lon[a:b]) for a, b in pairwise(bounds)]


@dataclass
class Candidates:
    """The best location found so far from one kind of source, for every row (NaN: none)."""

    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    fixes_disagree: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Candidates:
        nan = np.full(n, np.nan)
        return cls(nan.copy(), nan.copy(), nan.copy(), np.zeros(n, dtype=bool))

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.radius)

    def offer(self, rows, lat, lon, radius, disagree) -> None:
        """Keep, per row, the location with the smaller radius."""
        better = ~np.isnan(radius) & ~(radius >= self.radius[rows])
        chosen = rows[better]
        self.lat[chosen], self.lon[chosen], self.radius[chosen] = lat[better], lon[better], radius[better]
        self.fixes_disagree[rows[disagree]] = True


def offer_neighbours(
    fixes: Fixes,
    rows: np.ndarray,
    times: np.ndarray,
    settings: LocateSettings,
    found: Candidates,
    *,
    track: bool = False,
) -> None:
    """Offer the photos `rows`, taken at `times` (on the fixes' clock), the location the fixes
    around them give. On a track, only photos inside its recording get one: between two points at
    most `track_gap_s` apart, never before its start, after its end or across a gap."""
    known = ~np.isnan(times)
    if track:
        known &= fixes.covers(np.where(known, times, 0.0), settings.track_gap_s)
    rows, t = rows[known], times[known]
    if not len(fixes) or not len(rows):
        return
    last = len(fixes) - 1
    after = np.searchsorted(fixes.times, t, side="left")
    has_before, has_after = after > 0, after <= last
    b, a = np.clip(after - 1, 0, last), np.clip(after, 0, last)
    to_before = np.where(has_before, t - fixes.times[b], np.inf)
    to_after = np.where(has_after, fixes.times[a] - t, np.inf)
    both = has_before & has_after
    gap = np.where(both, to_before + to_after, np.inf)
    between = np.where(both, distance_m(fixes.lat[b], fixes.lon[b], fixes.lat[a], fixes.lon[a]), 0.0)
    moving = both & (gap > 0)
    share = np.where(moving, to_before / np.where(moving, gap, 1.0), 0.0)
    contradicted = fixes.contradicted(settings)
    disagree = moving & (between / np.where(moving, gap, 1.0) > settings.max_speed_m_per_s)
    disagree |= (has_before & contradicted[b]) | (has_after & contradicted[a])
    interpolate = both & (gap <= settings.max_gap_s) & ~disagree
    nearest = np.where(to_before <= to_after, b, a)
    lat = np.where(interpolate, fixes.lat[b] + share * (fixes.lat[a] - fixes.lat[b]), fixes.lat[nearest])
    lon = np.where(interpolate, between_longitudes(fixes.lon[b], fixes.lon[a], share), fixes.lon[nearest])
    fix_radius = settings.track_fix_radius_m if track else settings.fix_radius_m
    spread = np.where(interpolate, between, 0.0)
    radius = settings.radius_m(np.minimum(to_before, to_after), spread, fix_radius)
    radius[disagree | (radius > settings.max_radius_m)] = np.nan
    found.offer(rows, lat, lon, radius, disagree)
