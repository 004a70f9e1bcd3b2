"""The report's map of located photos: inline SVG over Natural Earth's 1:110m country outlines
(public domain, "Made with Natural Earth"; `world-110m.txt`, rebuilt by `scripts/world_outline.py`).
No tiles and nothing fetched: the page stays one file that opens offline.

The view is the located photos' extent, whatever it is (a walk, a country, the world); each photo
is a dot in its source's colour inside a faint circle of its stated radius, and photos that fall on
one dot (a landmark's photos share its place) are one dot with their count. Large outputs draw a
seeded uniform sample of their located photos (`MAP_POINTS`), and say so. At a trip's scale the
1:110m outlines would be kilometres off (an estuary drawn as land): below OUTLINE_MIN_SPAN_DEGREES
none is drawn, and the map says so.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.locating.earth import METRES_PER_DEGREE
from landmark_tag.report.page import PLACE_COLUMNS, file_name, place_text

MAP_POINTS = 3000
SOURCE_COLOURS = {
    "gps": "#2b6cb0", "track": "#2f855a", "copy": "#b83280", "time": "#dd6b20", "landmark": "#805ad5"
}  # fmt: skip
LOCATION_INPUT = [
    "path",
    "location_latitude",
    "location_longitude",
    "location_source",
    "location_radius_m",
    *PLACE_COLUMNS,
]
MIN_SPAN_DEGREES = 0.005  # about 500 m: a view no smaller, even for one photo
VIEW_ASPECT = 2.0  # width : height
# 1:110m outlines are generalised to tens of kilometres: drawn only in views at least this wide.
OUTLINE_MIN_SPAN_DEGREES = 5.0


@dataclass
class _Point:
    lat: float
    lon: float
    source: str
    radius_m: float | None
    name: str
    place: str = ""  # "Flint, Wales, GB", as far as it is known


@dataclass
class LocatedPhotos:
    """What the map draws, gathered batch by batch: the counts per source, the extent, and a seeded
    uniform sample of at most `limit` photos (reservoir sampling, so memory stays bounded)."""

    limit: int = MAP_POINTS
    counts: Counter = field(default_factory=Counter)
    sample: list[_Point] = field(default_factory=list)
    bounds: list[float] = field(default_factory=lambda: [90.0, -90.0, 180.0, -180.0])  # lat, lon min/max
    # The longitudes' min/max counted from 0 to 360: the shorter extent across the antimeridian.
    bounds_east: list[float] = field(default_factory=lambda: [360.0, 0.0])
    _random: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, batch: pa.RecordBatch) -> None:
        located = batch.filter(pc.is_valid(batch.column("location_latitude")))
        if not located.num_rows:
            return
        lats = located.column("location_latitude").to_numpy(zero_copy_only=False)
        lons = located.column("location_longitude").to_numpy(zero_copy_only=False)
        self.bounds = [
            min(self.bounds[0], float(lats.min())), max(self.bounds[1], float(lats.max())),
            min(self.bounds[2], float(lons.min())), max(self.bounds[3], float(lons.max())),
        ]  # fmt: skip
        east = lons % 360.0
        self.bounds_east = [
            min(self.bounds_east[0], float(east.min())),
            max(self.bounds_east[1], float(east.max())),
        ]
        sources = located.column("location_source")
        self.counts.update(dict(zip(*_value_counts(sources), strict=True)))
        # Reservoir sampling, vectorised: row i of all seen is kept in a random slot with
        # probability limit / (i + 1); only the few rows kept become Python objects.
        seen = self.total - located.num_rows + np.arange(located.num_rows)
        slots = np.where(seen < self.limit, seen, np.floor(self._random.random(len(seen)) * (seen + 1)))
        kept = np.flatnonzero(slots < self.limit)
        present = [name for name in LOCATION_INPUT if name in located.schema.names]  # older outputs: fewer
        rows = located.take(pa.array(kept)).select(present).to_pylist()
        for slot, row in zip(slots[kept].astype(int), rows, strict=True):
            lat, lon = row["location_latitude"], row["location_longitude"]
            point = _Point(
                lat,
                lon,
                row["location_source"] or "",
                row["location_radius_m"],
                file_name(row["path"]),
                place_text(row),
            )
            if slot == len(self.sample):
                self.sample.append(point)
            else:
                self.sample[slot] = point


def _value_counts(column: pa.Array) -> tuple[list[str], list[int]]:
    counted = pc.value_counts(column)
    return counted.field("values").to_pylist(), counted.field("counts").to_pylist()


def _nice_length_m(most_m: float) -> float:
    """The longest 1, 2 or 5 x 10^n metres that is at most `most_m`."""
    power = 10 ** math.floor(math.log10(most_m))
    return max(step * power for step in (1, 2, 5) if step * power <= most_m)


def _length(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def map_section(located: LocatedPhotos) -> str:
    """The map's <section>, or nothing when no photo is located."""
    if not located.total:
        return ""
    lat_min, lat_max, lon_min, lon_max = located.bounds
    # Photos on both sides of the antimeridian (Fiji, a Pacific crossing): longitudes from 0 to 360
    # keep them together, rather than a view of the whole world between them.
    across = located.bounds_east[1] - located.bounds_east[0] < lon_max - lon_min
    if across:
        lon_min, lon_max = located.bounds_east
    squeeze = math.cos(math.radians((lat_min + lat_max) / 2))  # x = longitude x squeeze, y = -latitude
    x0, x1 = lon_min * squeeze, lon_max * squeeze
    y0, y1 = -lat_max, -lat_min
    width = max(x1 - x0, MIN_SPAN_DEGREES) * 1.1
    height = max(y1 - y0, MIN_SPAN_DEGREES) * 1.1
    width, height = max(width, height * VIEW_ASPECT), max(height, width / VIEW_ASPECT)
    left, top = (x0 + x1 - width) / 2, (y0 + y1 - height) / 2
    dot = width / 250
    shapes = []
    for spot in _spots(located.sample, squeeze, dot, across):
        x, y, point, count = spot
        colour = SOURCE_COLOURS.get(point.source, "#444")
        within = f", within {point.radius_m:,.0f} m" if point.radius_m is not None else ""
        who = point.name if count == 1 else f"{count:,} photos, as {point.name}"
        place = f" in {point.place}" if point.place else ""
        title = escape(f"{who}{place}: {point.source}{within}", quote=True)
        if point.radius_m is not None and point.radius_m / METRES_PER_DEGREE > dot:
            shapes.append(
                f'<circle cx="{x:.6f}" cy="{y:.6f}" r="{point.radius_m / METRES_PER_DEGREE:.6f}" '
                f'fill="{colour}" fill-opacity="0.08" stroke="none"/>'
            )
        shapes.append(
            f'<circle cx="{x:.6f}" cy="{y:.6f}" r="{dot:.6f}" fill="{colour}"><title>{title}</title></circle>'
        )
        if count > 1:
            shapes.append(
                f'<text class="count" x="{x + dot * 1.3:.6f}" y="{y + dot:.6f}" font-size="{dot * 3:.6f}">'
                f"{count:,}</text>"
            )
    outlined = width >= OUTLINE_MIN_SPAN_DEGREES
    outline_path = ""
    if outlined:
        outline = resources.files("landmark_tag.report").joinpath("world-110m.txt").read_text("ascii").strip()
        outline_path = "".join(
            f'<path d="{outline}" transform="translate({shift * squeeze:.6f} 0) '
            f'scale({squeeze / 10:.8f} 0.1)" fill="#efece2" stroke="#a9a596" stroke-width="0.6" '
            f'vector-effect="non-scaling-stroke"/>'
            for shift in ((0.0, 360.0) if across else (0.0,))
        )
    bar_m = _nice_length_m(width / 4 * METRES_PER_DEGREE)
    bar = bar_m / METRES_PER_DEGREE
    bar_x, bar_y = left + width * 0.03, top + height * 0.95
    scale = (
        f'<line x1="{bar_x:.6f}" y1="{bar_y:.6f}" x2="{bar_x + bar:.6f}" y2="{bar_y:.6f}" stroke="#222" '
        f'stroke-width="2" vector-effect="non-scaling-stroke"/>'
        f'<text x="{bar_x:.6f}" y="{bar_y - height * 0.015:.6f}" font-size="{height * 0.03:.6f}">'
        f"{_length(bar_m)}</text>"
    )
    svg = (
        f'<svg class="map" viewBox="{left:.6f} {top:.6f} {width:.6f} {height:.6f}" role="img" '
        f'aria-label="map of the located photos" preserveAspectRatio="xMidYMid meet">'
        f'<rect x="{left:.6f}" y="{top:.6f}" width="{width:.6f}" height="{height:.6f}" '
        f'fill="{"#dde9f1" if outlined else "#f4f4f0"}"/>'
        f"{outline_path}{''.join(shapes)}{scale}</svg>"
    )
    legend = " ".join(
        f'<span class="source"><span class="dot" style="background:{SOURCE_COLOURS.get(source, "#444")}">'
        f"</span>{escape(source)} {count:,}</span>"
        for source, count in sorted(located.counts.items(), key=lambda item: _order(item[0]))
    )
    sampled = (
        f" A uniform sample of {len(located.sample):,} of the {located.total:,} located photos is drawn."
        if located.total > len(located.sample)
        else ""
    )
    outlines = (
        " Outlines: Made with Natural Earth (public domain), drawn offline."
        if outlined
        else " No outlines at this scale: the world outlines at hand would be kilometres off."
    )
    return (
        f'<section id="map"><h2>Where the located photos are ({located.total:,})</h2>{svg}'
        f'<p class="legend">{legend}</p><p class="note">Each dot is a photo, in the colour of its location'
        f"'s source, inside a faint circle of its stated radius; a number beside a dot counts the photos"
        f" on it.{sampled}{outlines}</p></section>\n"
    )


def _spots(
    points: list[_Point], squeeze: float, dot: float, across: bool
) -> list[tuple[float, float, _Point, int]]:
    """The points that fall on one dot of one source, merged: (x, y, the first, how many); with
    `across`, longitudes counted from 0 to 360."""
    merged: dict[tuple[int, int, str], list] = {}
    for point in points:
        x, y = (point.lon % 360.0 if across else point.lon) * squeeze, -point.lat
        key = (round(x / dot), round(y / dot), point.source)
        if key in merged:
            merged[key][3] += 1
        else:
            merged[key] = [x, y, point, 1]
    return [(x, y, point, count) for x, y, point, count in merged.values()]


def _order(source: str) -> int:
    return list(SOURCE_COLOURS).index(source) if source in SOURCE_COLOURS else len(SOURCE_COLOURS)
