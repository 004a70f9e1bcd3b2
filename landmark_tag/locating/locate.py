"""One location per photo, from the best source: its own GPS, then a GPS track (`--gpx`), then
photos taken close in time, then its landmark. A table operation on the whole output at commit,
with no model, on both engines.

**Clocks** (`clocks`). A photo's capture time is the camera's clock (`taken_local`), in whatever
zone it was set to. It is tied to UTC by the photo's own offset tag (`taken_at`), which always wins,
or by the camera's offset learned from at least two of its photos that carry both the clock and a
GPS time. A camera's own photos need no UTC at all: they are compared on its own clock (one clock per
camera and offset tag: two bodies of one model are two clocks). A track is tied to a camera's clock
by aligning the camera's photos with GPS to it (its clock may be hours off too), or by `--gpx-offset`.
Nothing is located by a clock that cannot be trusted.

**Neighbours** (`fixes`). A photo without GPS between two fixes gets the point between them in
proportion to the time, or, with a fix on one side only, that fix; its radius grows with the time
to the nearer fix and the distance between the fixes. Beyond `max_radius_m`, between fixes too far
apart in time, or ones implying a speed no photographer travels at, it gets none.

**One source.** The first source in SOURCES that has a location for the photo gives it; when another
source's location lies further from it than both radii, the photo gets none, and `location_note`
says which two disagree; only a track, inside its recording, outweighs time (and says so). Limits
measured on real sequences: docs/quality.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.results import Status
from landmark_tag.locating.clocks import SPAN_CLOCK_S, align, align_by_span, camera_offsets, groups
from landmark_tag.locating.earth import distance_m
from landmark_tag.locating.fixes import Candidates, Fixes, LocateSettings, offer_neighbours
from landmark_tag.locating.named_places import named_place_at
from landmark_tag.locating.places import place_names
from landmark_tag.locating.zones import zone_utc

SOURCES = ("gps", "track", "time", "landmark")
# What `locate` reads of the output.
INPUT_COLUMNS = [
    "path", "status", "gps_latitude", "gps_longitude", "estimated_latitude", "estimated_longitude",
    "taken_at", "taken_at_source", "taken_local", "gps_time", "camera",
]  # fmt: skip
# What the place names are based on (README, "Columns"): the time-zone borders and Natural Earth's
# 1:10m admin-1 lines for country and region, GeoNames' places of 1000 people or more for the city.
PLACE_SOURCE = "tz-borders+naturalearth-10m+geonames-1000"
NOTE_FIXES_DISAGREE = "the fixes around it disagree"
NOTE_SCREENSHOT = "a screenshot (no camera): its time says where the phone was, not what it shows"
# A picture no camera took: no camera make or model in its EXIF, and a PNG (what phones and computers
# save their screens as) or a screenshot's name, in the languages phones name them in.
SCREENSHOT_NAME = (
    r"(\.png$|screenshot|screen[ _-]?shot|bildschirmfoto|captura|capture d.cran|schermafbeelding|"
    r"sk.rmavbild|skjermbilde|schermata|снимок экрана|スクリーンショット|截屏|屏幕截图)"
)
NOTE_OFF_TRACK = "gps and track disagree"  # the photo keeps its own GPS
NOTE_TRACK_KEPT = "track and time disagree; the track is kept"


@dataclass
class Located:
    table: pa.Table  # LOCATION_COLUMN_NAMES, then taken_at and taken_at_source: row for row
    clocks: list[str] = field(default_factory=list)  # what was learned of the clocks, to report
    sources: dict[str, int] = field(default_factory=dict)  # rows located by each source


def _seconds(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as float seconds, NaN where empty (naive ones as their wall clock)."""
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False), dtype=float) / 1e6


def floats(column: pa.ChunkedArray) -> np.ndarray:
    """A float column as an array, NaN where empty."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def screenshots(table: pa.Table) -> np.ndarray:
    """Per row of `table` (with `path` and `camera`), whether it is a picture no camera took."""
    no_camera = np.asarray(pc.is_null(table.column("camera")).to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(no_camera)  # only these can be screenshots: most photos name a camera
    named = pc.match_substring_regex(table.column("path").take(rows), SCREENSHOT_NAME, ignore_case=True)
    shot = np.zeros(table.num_rows, dtype=bool)
    shot[rows] = np.asarray(pc.fill_null(named, False).to_numpy(zero_copy_only=False), dtype=bool)
    return shot


def _offset(seconds: float) -> str:
    sign, seconds = ("-" if seconds < 0 else "+"), abs(round(seconds))
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _Photos:
    """The columns `locate` reads, as arrays, and each photo's clocks."""

    def __init__(self, table: pa.Table) -> None:
        self.n = table.num_rows
        self.lat, self.lon = floats(table.column("gps_latitude")), floats(table.column("gps_longitude"))
        self.own = ~np.isnan(self.lat) & ~np.isnan(self.lon)
        self.local = _seconds(table.column("taken_local"))
        self.gps_time = _seconds(table.column("gps_time"))
        encoded = pc.dictionary_encode(table.column("camera")).combine_chunks()
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=float)
        self.cameras = np.where(np.isnan(codes), -1, codes).astype(np.int64)
        self.camera_names = encoded.dictionary.to_pylist()
        self.tagged = np.asarray(
            pc.equal(table.column("status"), Status.TAGGED.value).to_numpy(zero_copy_only=False), dtype=bool
        )
        self.screenshot = screenshots(table)
        self.landmark_lat = floats(table.column("estimated_latitude"))
        self.landmark_lon = floats(table.column("estimated_longitude"))
        # UTC where the photo says it, else through its camera's learned offset, else its GPS time;
        # a taken_at an earlier commit worked out (by this rule, or from the time zone) is worked
        # out again, never read as the photo's own.
        self.utc = _seconds(table.column("taken_at"))
        inferred = pc.fill_null(pc.not_equal(table.column("taken_at_source"), "exif"), False)
        self.utc[np.asarray(inferred.to_numpy(zero_copy_only=False), dtype=bool)] = np.nan
        self.utc_source = np.full(self.n, None, dtype=object)
        self.utc_source[~np.isnan(self.utc)] = "exif"
        # The photo's own offset tag: a phone's clock follows the zone it is in, and two bodies of one
        # model (phones write no serial number) are two clocks when their offsets differ.
        self.own_offset = self.local - self.utc
        self.clocks: list[str] = []
        for camera, offset in camera_offsets(self.local, self.gps_time, self.cameras).items():
            mine = (self.cameras == camera) & np.isnan(self.utc)
            self.utc[mine] = self.local[mine] - offset
            self.utc_source[mine] = "camera"
            self.clocks.append(
                f"{self.camera_names[camera]}: clock {_offset(offset)} from UTC (from its GPS times)"
            )
        by_gps_time = np.isnan(self.utc) & ~np.isnan(self.gps_time)
        self.utc[by_gps_time], self.utc_source[by_gps_time] = self.gps_time[by_gps_time], "gps_time"

    def name(self, camera: int) -> str:
        return self.camera_names[camera] if camera >= 0 else "photos without a camera name"


def _clock_groups(photos: _Photos) -> np.ndarray:
    """Per photo, a key for the clock its `local` time is on: its camera and its own offset tag (no
    tag is a clock of its own); -1 where unknown."""
    _, offset_codes = np.unique(np.nan_to_num(photos.own_offset, nan=np.inf), return_inverse=True)
    keys = photos.cameras * (int(offset_codes.max(initial=0)) + 1) + offset_codes.reshape(-1)
    return np.where((photos.cameras >= 0) & ~np.isnan(photos.local), keys, -1)


def _targets(photos: _Photos, settings: LocateSettings) -> np.ndarray:
    """The photos to place by time or on a track: those without GPS, screenshots only if asked."""
    return np.flatnonzero(~photos.own & (settings.locate_screenshots | ~photos.screenshot))


def _by_time(photos: _Photos, settings: LocateSettings) -> Candidates:
    found = Candidates.empty(photos.n)
    targets, fixes = _targets(photos, settings), np.flatnonzero(photos.own)
    utc_fixes = Fixes.of(photos.utc[fixes], photos.lat[fixes], photos.lon[fixes])
    offer_neighbours(utc_fixes, targets, photos.utc[targets], settings, found)
    clocks = _clock_groups(photos)
    known = np.flatnonzero(clocks >= 0)
    for _, rows in groups(clocks[known], known):  # a camera's own photos, on its own clock
        mine = rows[photos.own[rows]]
        fixes_here = Fixes.of(photos.local[mine], photos.lat[mine], photos.lon[mine])
        others = rows[~photos.own[rows]]
        offer_neighbours(fixes_here, others, photos.local[others], settings, found)
    return found


_GIVE_OFFSET = "give --gpx-offset to place them on the track"
TRACK_SPREAD_PER_MEDIAN = 2.0


def _by_track(photos: _Photos, track: Fixes, settings: LocateSettings) -> tuple[Candidates, Candidates]:
    """Each photo's time on the track's clock, then its place on the track: for the photos without
    GPS, and (to check them against it) for those with."""
    found, checked = Candidates.empty(photos.n), Candidates.empty(photos.n)
    by_span = np.zeros(0, dtype=np.int64)  # rows whose clock is known to its time zone only
    # How far the camera's own GPS photos lay from the track (median), where they were aligned on it.
    disagreement = np.zeros(photos.n)
    if settings.gpx_offset_s is not None:
        on_track = photos.local + settings.gpx_offset_s
        photos.clocks.append(
            f"tracks: {_offset(settings.gpx_offset_s)} from every camera's clock (--gpx-offset)"
        )
    else:
        on_track = np.full(photos.n, np.nan)
        in_utc = ~np.isnan(photos.utc)
        clock = np.where(in_utc, photos.utc, photos.local)
        keys = photos.cameras * 2 + in_utc  # a camera's photos in UTC, and those on its own clock
        unaligned_utc = []
        utc_offsets = []
        everyone = np.flatnonzero(~np.isnan(clock))
        for key, rows in groups(keys[everyone], everyone):
            camera, utc_frame = key // 2, bool(key % 2)
            fixes = rows[photos.own[rows]]
            expected = 0.0 if utc_frame else None
            alignment = (
                align(track, clock[fixes], photos.lat[fixes], photos.lon[fixes], expected)
                if len(fixes)
                else None
            )
            frame = "in UTC" if utc_frame else "on its clock"
            who = f"{photos.name(camera)} {frame}"
            if alignment is not None:
                offset = alignment.offset
                on_track[rows] = clock[rows] + offset
                disagreement[rows] = alignment.median_m
                how = "its GPS photos agree" if offset == expected else "aligned on its GPS photos"
                photos.clocks.append(
                    f"tracks: {_offset(offset)} from {who}, {how}"
                    f" (median {alignment.median_m:.0f} m from the track)"
                )
                if utc_frame:
                    utc_offsets.append(offset)
            elif utc_frame:
                unaligned_utc.append(rows)
            elif len(fixes):
                others = len(rows) - len(fixes)
                if others:
                    photos.clocks.append(
                        f"tracks: no offset from {who}: its {len(fixes)} GPS photos do not fall on the"
                        f" track at any offset within a day; {_GIVE_OFFSET} ({others} photos)"
                    )
            else:
                span_rows = _align_by_span(photos, track, rows, clock[rows], on_track)
                by_span = np.r_[by_span, span_rows]
        # Photos in UTC that no alignment covers: the tracks' own offset from UTC where photos showed
        # it, else none (GPX times are UTC).
        track_utc = float(np.median(utc_offsets)) if utc_offsets else 0.0
        for rows in unaligned_utc:
            on_track[rows] = clock[rows] + track_utc
    targets = _targets(photos, settings)
    offer_neighbours(track, targets, on_track[targets], settings, found, track=True)
    # Where a camera's receiver and the track disagree by more than a track point's own radius
    # allows, the radius holds that too: a 2-D normal error's 90th percentile is 1.8x its median.
    here = found.found
    found.radius[here] = np.maximum(found.radius[here], TRACK_SPREAD_PER_MEDIAN * disagreement[here])
    own = np.flatnonzero(photos.own)
    offer_neighbours(track, own, on_track[own], settings, checked, track=True)
    if len(by_span):
        rows = by_span[found.found[by_span]]
        found.radius[rows] += track.extent_m(on_track[rows], found.lat[rows], found.lon[rows], SPAN_CLOCK_S)
        found.radius[rows[found.radius[rows] > settings.max_radius_m]] = np.nan
    return found, checked


def _align_by_span(
    photos: _Photos, track: Fixes, rows: np.ndarray, clock: np.ndarray, on_track: np.ndarray
) -> np.ndarray:
    """A camera's photos, with no GPS among them, placed on the track by the time zone that puts
    them inside it (`clocks.align_by_span`); the rows so placed."""
    alignment = align_by_span(track, clock)
    placed = ~np.isnan(alignment.offsets)
    on_track[rows[placed]] = clock[placed] + alignment.offsets[placed]
    camera = photos.name(int(photos.cameras[rows[0]]))
    for offset in alignment.found:
        photos.clocks.append(
            f"tracks: {_offset(offset)} from {camera} on its clock, the time zone that puts its photos"
            " inside the track (no photo with GPS to align on)"
        )
    for trip in alignment.abstained:
        photos.clocks.append(f"tracks: no offset from {camera} on its clock for {trip}; {_GIVE_OFFSET}")
    return rows[placed]


def locate(table: pa.Table, settings: LocateSettings, track: Fixes | None = None) -> Located:
    """Every row's location (`table` holds at least INPUT_COLUMNS), with `track` the points of
    the GPS tracks given, if any."""
    photos = _Photos(table)
    n = photos.n
    fixed = np.full(n, settings.fix_radius_m)
    gps = Candidates(photos.lat, photos.lon, np.where(photos.own, fixed, np.nan), np.zeros(n, bool))
    by_track, gps_on_track = (
        _by_track(photos, track, settings)
        if track is not None and len(track)
        else (Candidates.empty(n), Candidates.empty(n))
    )
    by_time = _by_time(photos, settings)
    landmark = photos.tagged & ~np.isnan(photos.landmark_lat) & ~photos.own
    radius = np.where(landmark, settings.landmark_radius_m, np.nan)
    by_landmark = Candidates(photos.landmark_lat, photos.landmark_lon, radius, np.zeros(n, bool))
    sources = {"gps": gps, "track": by_track, "time": by_time, "landmark": by_landmark}

    source = np.full(n, None, dtype=object)
    note = np.full(n, None, dtype=object)
    lat, lon, radius = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    open_rows = np.ones(n, dtype=bool)
    for name in SOURCES:
        here = sources[name]
        use = open_rows & here.found
        source[use], lat[use], lon[use], radius[use] = name, here.lat[use], here.lon[use], here.radius[use]
        open_rows &= ~use
    for name in SOURCES[1:]:  # a second source that puts the photo elsewhere: no location
        other = sources[name]
        check = (source != None) & (source != name) & other.found  # noqa: E711 (elementwise)
        apart = distance_m(lat[check], lon[check], other.lat[check], other.lon[check])
        rows = np.flatnonzero(check)[apart > radius[check] + other.radius[check]]
        note[rows] = [f"{first} and {name} disagree" for first in source[rows]]
        # A track inside its recording outweighs other photos taken near in time (they may be
        # someone else's, or the walk faster than their radius allows): adding a track never loses a
        # location that time alone gave.
        kept = source[rows] == "track" if name == "time" else np.zeros(len(rows), dtype=bool)
        note[rows[kept]] = NOTE_TRACK_KEPT
        rows = rows[~kept]
        source[rows], lat[rows], lon[rows], radius[rows] = None, np.nan, np.nan, np.nan
    # A photo's own GPS stays its location, but one the track puts elsewhere is worth a word.
    apart = distance_m(lat, lon, gps_on_track.lat, gps_on_track.lon)
    off_track = (source == "gps") & gps_on_track.found & (apart > radius + gps_on_track.radius)
    note[off_track] = NOTE_OFF_TRACK
    stuck = (source == None) & (note == None) & (by_time.fixes_disagree | by_track.fixes_disagree)  # noqa: E711
    note[stuck] = NOTE_FIXES_DISAGREE
    if not settings.locate_screenshots:
        timed = ~np.isnan(photos.utc) | ~np.isnan(photos.local)
        left_out = (source == None) & (note == None) & photos.screenshot & timed  # noqa: E711
        note[left_out] = NOTE_SCREENSHOT
    located = ~np.isnan(lat)
    # When it was taken, in UTC: where nothing the photos say ties its clock to UTC, the time zone
    # where it was taken says it (at that date, summer time included). Locating by time never uses
    # it: a camera left on another zone would be placed by photos taken at another moment.
    taken, taken_source = photos.utc.copy(), photos.utc_source.copy()
    by_zone = np.isnan(taken) & located
    taken[by_zone] = zone_utc(photos.local[by_zone], lat[by_zone], lon[by_zone])
    taken_source[by_zone & ~np.isnan(taken)] = "zone"
    known = ~np.isnan(taken)
    names = place_names(lat, lon, radius)
    named = (
        named_place_at(settings.named_places, lat, lon, radius)
        if settings.named_places is not None
        else np.full(n, None, dtype=object)
    )
    columns = {
        "location_latitude": pa.array(lat, pa.float64(), mask=~located),
        "location_longitude": pa.array(lon, pa.float64(), mask=~located),
        "location_source": pa.array(source, pa.string()),
        "location_radius_m": pa.array(np.round(radius, 1), pa.float64(), mask=~located),
        "location_note": pa.array(note, pa.string()),
        "place_city": pa.array(names.city, pa.string()),
        "place_region": pa.array(names.region, pa.string()),
        "place_country": pa.array(names.country, pa.string()),
        "place_source": pa.array([PLACE_SOURCE if code else None for code in names.country], pa.string()),
        "named_place": pa.array(named, pa.string()),
        "taken_at": pa.array(np.round(np.nan_to_num(taken) * 1e6).astype(np.int64), mask=~known).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "taken_at_source": pa.array(taken_source, pa.string()),
    }
    counted = {name: int(np.count_nonzero(source == name)) for name in SOURCES}
    return Located(pa.table(columns), photos.clocks, {name: n for name, n in counted.items() if n})
