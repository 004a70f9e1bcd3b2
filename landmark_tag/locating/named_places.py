"""Places people name themselves (`--places FILE`: "Home", "the cabin"), read once before any photo,
and the one each location lies in.

A places file is a CSV with the columns name, latitude, longitude, radius_m (a circle), or a
GeoJSON FeatureCollection of Points (with a `radius_m` property), Polygons and MultiPolygons, each
with a `name` property. A location is in a place where its whole circle is: its centre and eight
points on its radius's circle, or for a circle place, its distance plus its radius within the
place's. Where places overlap, the smallest wins. A place never moves a photo: it names a location
that another source found.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from landmark_tag.errors import ConfigError
from landmark_tag.locating.circles import circle_points
from landmark_tag.locating.earth import METRES_PER_DEGREE, distance_m

MAX_PLACES_BYTES = 64 << 20
CSV_COLUMNS = ("name", "latitude", "longitude", "radius_m")


@dataclass(frozen=True)
class NamedPlaces:
    """The places of a places file: a name, an area (m², for the smallest to win) and either a
    circle (centre, radius) or a polygon (lon/lat degrees) each."""

    names: tuple[str, ...]
    area_m2: np.ndarray
    lat: np.ndarray  # circles' centres; NaN for polygons
    lon: np.ndarray
    radius_m: np.ndarray
    shapes: tuple[shapely.Geometry | None, ...]  # polygons; None for circles
    tree: shapely.STRtree  # every place's bounds, in degrees


def read_named_places(path: str) -> NamedPlaces:
    """The places in `path`; ConfigError, naming the file and the line or feature, for anything
    that is not a valid places file."""
    file = Path(path)
    try:
        if not file.is_file():
            raise ConfigError(f"places file {path} (--places): no such file")
        if file.stat().st_size > MAX_PLACES_BYTES:
            raise ConfigError(f"places file {path} (--places) is over {MAX_PLACES_BYTES >> 20} MiB")
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"places file {path} (--places) is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read places file {path} (--places): {exc.strerror or exc}") from None
    if file.suffix.lower() in (".geojson", ".json"):
        entries = _from_geojson(text, path)
    elif file.suffix.lower() == ".csv":
        entries = _from_csv(text, path)
    else:
        raise ConfigError(f"places file {path} (--places): use a .csv or a .geojson file")
    if not entries:
        raise ConfigError(f"places file {path} (--places) names no place")
    return _places(entries)


_Entry = tuple[str, float, float, float, "shapely.Geometry | None"]  # name, lat, lon, radius, polygon


def _from_csv(text: str, path: str) -> list[_Entry]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(
            f"places file {path}: no column {', '.join(missing)} (it needs {', '.join(CSV_COLUMNS)})"
        )
    entries = []
    for row in reader:
        where = f"places file {path}, line {reader.line_num}"
        name = (row["name"] or "").strip()
        try:
            lat, lon, radius = (float(row[c]) for c in CSV_COLUMNS[1:])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: latitude, longitude and radius_m must be numbers") from None
        entries.append(_circle(name, lat, lon, radius, where))
    return entries


def _from_geojson(text: str, path: str) -> list[_Entry]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"places file {path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ConfigError(f"places file {path}: a GeoJSON FeatureCollection is needed")
    entries = []
    for number, feature in enumerate(document.get("features") or [], start=1):
        where = f"places file {path}, feature {number}"
        properties = (feature or {}).get("properties") or {}
        name = str(properties.get("name") or "").strip()
        geometry = (feature or {}).get("geometry") or {}
        kind = geometry.get("type")
        try:
            if kind == "Point":
                lon, lat = (float(v) for v in geometry["coordinates"][:2])
                entries.append(_circle(name, lat, lon, float(properties.get("radius_m", "nan")), where))
                continue
            if kind not in ("Polygon", "MultiPolygon"):
                raise ConfigError(f"{where}: a Point, Polygon or MultiPolygon is needed, not {kind}")
            shape = shapely.geometry.shape(geometry)
        except (KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            raise ConfigError(f"{where}: not a valid geometry ({exc})") from None
        if not name:
            raise ConfigError(f"{where}: the place has no name (a `name` property)")
        if not shape.is_valid or shape.is_empty:
            raise ConfigError(
                f"{where} ({name}): the polygon is not valid ({shapely.is_valid_reason(shape)})"
            )
        minx, miny, maxx, maxy = shape.bounds
        if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
            raise ConfigError(f"{where} ({name}): coordinates out of range (longitude, latitude in degrees)")
        entries.append((name, math.nan, math.nan, math.nan, shape))
    return entries


def _circle(name: str, lat: float, lon: float, radius: float, where: str) -> _Entry:
    if not name:
        raise ConfigError(f"{where}: the place has no name")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"{where} ({name}): latitude and longitude out of range")
    if not (radius > 0 and math.isfinite(radius)):
        raise ConfigError(f"{where} ({name}): radius_m must be a number of metres above 0")
    return (name, lat, lon, radius, None)


def _places(entries: list[_Entry]) -> NamedPlaces:
    names = tuple(entry[0] for entry in entries)
    lat, lon, radius = (np.array([entry[i] for entry in entries], dtype=float) for i in (1, 2, 3))
    shapes = tuple(entry[4] for entry in entries)
    area = np.pi * radius**2
    bounds = []
    for index, shape in enumerate(shapes):
        if shape is None:
            dlat = radius[index] / METRES_PER_DEGREE
            dlon = dlat / max(math.cos(math.radians(lat[index])), 1e-6)
            bounds.append(
                shapely.box(lon[index] - dlon, lat[index] - dlat, lon[index] + dlon, lat[index] + dlat)
            )
        else:
            scale = METRES_PER_DEGREE**2 * math.cos(math.radians(shape.centroid.y))
            area[index] = shape.area * scale
            bounds.append(shapely.envelope(shape))
    return NamedPlaces(names, area, lat, lon, radius, shapes, shapely.STRtree(bounds))


def named_place_at(places: NamedPlaces, lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray) -> np.ndarray:
    """Per location, the name of the smallest place its whole circle lies in; None elsewhere."""
    found = np.full(len(lat), None, dtype=object)
    rows = np.flatnonzero(~np.isnan(lat) & ~np.isnan(lon))
    query, place = places.tree.query(shapely.points(lon[rows], lat[rows]), predicate="intersects")
    at, radius = rows[query], np.nan_to_num(radius_m[rows[query]])
    inside = np.zeros(len(at), dtype=bool)
    circle = ~np.isnan(places.lat[place])
    apart = distance_m(lat[at[circle]], lon[at[circle]], places.lat[place[circle]], places.lon[place[circle]])
    inside[circle] = apart + radius[circle] <= places.radius_m[place[circle]]
    for number in np.unique(place[~circle]).tolist():  # each polygon, with its locations at once
        pairs = np.flatnonzero(place == number)
        ys, xs = circle_points(lat[at[pairs]], lon[at[pairs]], radius[pairs])
        ys, xs = np.column_stack([lat[at[pairs]], ys]), np.column_stack([lon[at[pairs]], xs])
        inside[pairs] = shapely.contains_xy(places.shapes[number], xs, ys).all(axis=1)
    # The smallest place each location lies in.
    order = np.lexsort((places.area_m2[place[inside]], at[inside]))
    chosen_rows, chosen = at[inside][order], place[inside][order]
    first = np.ones(len(chosen_rows), dtype=bool)
    first[1:] = chosen_rows[1:] != chosen_rows[:-1]
    found[chosen_rows[first]] = [places.names[i] for i in chosen[first].tolist()]
    return found
