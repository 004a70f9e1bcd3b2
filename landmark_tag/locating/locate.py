"""One location per photo, from the best source: its own GPS, then a GPS track (`--gpx`), then
the photo it is a copy of (`copies`), then photos taken close in time, then its landmark. A table
operation on the whole output at commit, with no model, on both engines.

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

from landmark_tag.locating.by_track import locate_on_track
from landmark_tag.locating.clocks import groups
from landmark_tag.locating.earth import distance_m
from landmark_tag.locating.fixes import Candidates, Fixes, LocateSettings, offer_neighbours
from landmark_tag.locating.named_places import named_place_at
from landmark_tag.locating.photos import Photos, flags, floats, to_place
from landmark_tag.locating.places import place_names
from landmark_tag.locating.zones import zone_utc

SOURCES = ("gps", "track", "copy", "time", "landmark")
ORIGINAL_SOURCES = ("gps", "track")  # a copy takes a location only from an original placed by these
# What `locate` reads of the output.
INPUT_COLUMNS = [
    "path", "status", "gps_latitude", "gps_longitude", "estimated_latitude", "estimated_longitude",
    "taken_at", "taken_at_source", "taken_local", "gps_time", "camera",
    # Where the output already has a location, and the names it looked up for it.
    "location_latitude", "location_longitude", "location_radius_m", "place_city", "place_region",
    "place_country", "place_source",
    # What the commit's copy pass reads and keeps (commit/copies.py).
    "picture_hashes", "copy_of",
]  # fmt: skip
PLACE_COLUMNS = ("place_city", "place_region", "place_country")
# What the place names are based on (README, "Columns"): the time-zone borders and Natural Earth's
# 1:10m admin-1 lines for country and region, GeoNames' places of 1000 people or more for the city.
PLACE_SOURCE = "tz-borders+naturalearth-10m+geonames-1000"
NOTE_FIXES_DISAGREE = "the fixes around it disagree"
NOTE_SCREENSHOT = "a screenshot (no camera): its time says where the phone was, not what it shows"
NOTE_OFF_TRACK = "gps and track disagree"  # the photo keeps its own GPS
NOTE_TRACK_KEPT = "track and time disagree; the track is kept"
NOTE_COPY_TIME = "a copy whose own capture time is not its original's"
COPY_TIME_TOLERANCE_S = 1.0  # EXIF times are in whole seconds


@dataclass
class Located:
    table: pa.Table  # LOCATION_COLUMN_NAMES, then taken_at and taken_at_source: row for row
    clocks: list[str] = field(default_factory=list)  # what was learned of the clocks, to report
    sources: dict[str, int] = field(default_factory=dict)  # rows located by each source


def _clock_groups(photos: Photos) -> np.ndarray:
    """Per photo, a key for the clock its `local` time is on: its camera and its own offset tag (no
    tag is a clock of its own); -1 where unknown."""
    _, offset_codes = np.unique(np.nan_to_num(photos.own_offset, nan=np.inf), return_inverse=True)
    keys = photos.cameras * (int(offset_codes.max(initial=0)) + 1) + offset_codes.reshape(-1)
    return np.where((photos.cameras >= 0) & ~np.isnan(photos.local), keys, -1)


def _by_time(photos: Photos, settings: LocateSettings) -> Candidates:
    found = Candidates.empty(photos.n)
    targets, fixes = to_place(photos, settings), np.flatnonzero(photos.own)
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


def locate(
    table: pa.Table, settings: LocateSettings, track: Fixes | None = None, copies: np.ndarray | None = None
) -> Located:
    """Every row's location (`table` holds at least INPUT_COLUMNS), with `track` the points of
    the GPS tracks given, if any, and `copies` the row each row is a copy of (-1: none)."""
    photos = Photos(table)
    n = photos.n
    fixed = np.full(n, settings.fix_radius_m)
    gps = Candidates(photos.lat, photos.lon, np.where(photos.own, fixed, np.nan), np.zeros(n, bool))
    by_track, gps_on_track = (
        locate_on_track(photos, track, settings)
        if track is not None and len(track)
        else (Candidates.empty(n), Candidates.empty(n))
    )
    by_time = _by_time(photos, settings)
    landmark = photos.tagged & ~np.isnan(photos.landmark_lat) & ~photos.own
    radius = np.where(landmark, settings.landmark_radius_m, np.nan)
    by_landmark = Candidates(photos.landmark_lat, photos.landmark_lon, radius, np.zeros(n, bool))
    sources = {"gps": gps, "track": by_track, "time": by_time, "landmark": by_landmark}
    copy_of = np.full(n, -1, dtype=np.int64) if copies is None else np.asarray(copies, dtype=np.int64)
    # A copy takes where its original is, as that original's own GPS or a track placed it: the
    # choice is made once without copies, and again with them.
    chosen = _choose(sources, Candidates.empty(n))
    by_copy, copy_time_differs = _by_copy(photos, copy_of, chosen)
    source, lat, lon, radius, note = chosen = _choose(sources, by_copy)
    note[copy_time_differs & (source == None)] = NOTE_COPY_TIME  # noqa: E711
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
    # A copy placed by its original was taken when the original was.
    from_original = np.flatnonzero((source == "copy") & np.isnan(taken))
    taken[from_original] = taken[copy_of[from_original]]
    taken_source[from_original[~np.isnan(taken[from_original])]] = "copy"
    known = ~np.isnan(taken)
    named = (
        named_place_at(settings.named_places, lat, lon, radius)
        if settings.named_places is not None
        else np.full(n, None, dtype=object)
    )
    paths = table.column("path").combine_chunks()
    matched = copy_of >= 0
    columns = {
        "location_latitude": pa.array(lat, pa.float64(), mask=~located),
        "location_longitude": pa.array(lon, pa.float64(), mask=~located),
        "location_source": pa.array(source, pa.string()),
        "location_radius_m": pa.array(np.round(radius, 1), pa.float64(), mask=~located),
        "location_note": pa.array(note, pa.string()),
        **_place_columns(table, lat, lon, np.round(radius, 1)),
        "named_place": pa.array(named, pa.string()),
        "copy_of": paths.take(pa.array(np.where(matched, copy_of, 0), mask=~matched)),
        "taken_at": pa.array(np.round(np.nan_to_num(taken) * 1e6).astype(np.int64), mask=~known).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "taken_at_source": pa.array(taken_source, pa.string()),
    }
    counted = {name: int(np.count_nonzero(source == name)) for name in SOURCES}
    return Located(pa.table(columns), photos.clocks, {name: n for name, n in counted.items() if n})


_Choice = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # source, lat, lon, radius, note


def _choose(sources: dict[str, Candidates], by_copy: Candidates) -> _Choice:
    """Per photo, the first source in SOURCES with a location for it, unless a later one puts it
    elsewhere (further than both radii): then none, and a note on which two disagree."""
    sources = {**sources, "copy": by_copy}
    n = len(by_copy.lat)
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
    return source, lat, lon, radius, note


def _by_copy(photos: Photos, copy_of: np.ndarray, chosen: _Choice) -> tuple[Candidates, np.ndarray]:
    """Each copy's original's location, where the original's own GPS or a track placed it, with
    the original's radius; and which copies carry a capture time of their own that is not the
    original's (they get none: a frame of the same burst, or not a copy at all)."""
    source, lat, lon, radius, _ = chosen
    n = photos.n
    found = Candidates.empty(n)
    copies = np.flatnonzero((copy_of >= 0) & ~photos.own)  # a photo's own GPS is never overruled
    originals = copy_of[copies]
    gap = np.abs(photos.local[copies] - photos.local[originals])
    differs = np.zeros(n, dtype=bool)
    differs[copies] = gap > COPY_TIME_TOLERANCE_S  # NaN (either has none) compares False
    placed = np.isin(source[originals], ORIGINAL_SOURCES) & ~differs[copies]
    rows, originals = copies[placed], originals[placed]
    found.lat[rows], found.lon[rows], found.radius[rows] = lat[originals], lon[originals], radius[originals]
    return found, differs


def _place_columns(
    table: pa.Table, lat: np.ndarray, lon: np.ndarray, radius: np.ndarray
) -> dict[str, pa.Array]:
    """The place names of each location (`place_source` says what they are based on, for every
    located row). A row whose location is the one the output already named, from the same data,
    keeps its names: a nightly run looks up only the locations that are new or moved."""
    located = ~np.isnan(lat)
    kept = located & _named_before(table, lat, lon, radius)
    redo = np.flatnonzero(located & ~kept)
    names = place_names(lat[redo], lon[redo], radius[redo])
    columns = {}
    for name, found in zip(PLACE_COLUMNS, (names.city, names.region, names.country), strict=True):
        fresh = np.full(len(lat), None, dtype=object)
        fresh[redo] = found
        column = pa.array(fresh, pa.string())
        if kept.any():
            column = pc.if_else(pa.array(kept), table.column(name).combine_chunks().cast(pa.string()), column)
        columns[name] = column
    source = pa.array(np.where(located, PLACE_SOURCE, ""), pa.string())
    columns["place_source"] = pc.if_else(pa.array(located), source, pa.scalar(None, pa.string()))
    return columns


def _named_before(table: pa.Table, lat: np.ndarray, lon: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Per row, whether the output already holds this location (radius as written) and names looked
    up for it from the data in use."""
    if "place_source" not in table.column_names:
        return np.zeros(len(lat), dtype=bool)
    same_data = flags(pc.equal(table.column("place_source"), PLACE_SOURCE))
    held = [
        floats(table.column(name))
        for name in ("location_latitude", "location_longitude", "location_radius_m")
    ]
    return same_data & (held[0] == lat) & (held[1] == lon) & (held[2] == radius)
