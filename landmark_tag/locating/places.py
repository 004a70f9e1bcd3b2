"""The country a photo was taken in, from its location: the time-zone polygons (tzfpy's, built by
timezone-boundary-builder from OpenStreetMap's borders) and the one country each zone is in (the
tz database's zone.tab, from the tzdata package). A zone never spans a border, so its polygon is
the country's there. Given only where the whole circle of the location's radius lies in one country
(near a border, none rather than the wrong one); at sea, none."""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import tzfpy

from landmark_tag.locating.fixes import METRES_PER_DEGREE

# Below this radius, the circle is not checked: the polygons are within about 110 m of the borders.
CIRCLE_CHECK_M = 100.0


@functools.cache
def zone_countries() -> dict[str, str]:
    """Time zone name -> ISO 3166-1 alpha-2 code of its country."""
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in table.splitlines() if line and not line.startswith("#"))
    return {fields[2]: fields[0] for fields in rows}


def _countries(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The country code at each point (None at sea), by code: one zone lookup per point."""
    countries = zone_countries()
    return np.array(
        [countries.get(tzfpy.get_tz(x, y)) for y, x in zip(lat.tolist(), lon.tolist(), strict=True)],
        dtype=object,
    )


def countries_at(lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray) -> np.ndarray:
    """Per location, the country code where the centre and eight points on its radius's circle all
    lie in one country; None elsewhere (no location, at sea, across a border)."""
    found = np.full(len(lat), None, dtype=object)
    rows = np.flatnonzero(~np.isnan(lat) & ~np.isnan(lon))
    found[rows] = _countries(lat[rows], lon[rows])
    wide = rows[(np.nan_to_num(radius_m[rows]) > CIRCLE_CHECK_M) & (found[rows] != None)]  # noqa: E711
    cache: dict[int, str | None] = {}  # a point's country, by its cell of about 100 m
    for start in range(0, len(wide), CHUNK_ROWS):  # in chunks: eight points a row add up
        chunk = wide[start : start + CHUNK_ROWS]
        keys = _circle_cells(lat[chunk], lon[chunk], radius_m[chunk])
        cells, inverse = np.unique(keys, return_inverse=True)
        new = [int(cell) for cell in cells if int(cell) not in cache]
        if new:
            ys, xs = _cell_centres(np.array(new, dtype=np.int64))
            cache.update(zip(new, _countries(ys, xs), strict=True))
        around = np.array([cache[int(cell)] for cell in cells], dtype=object)[inverse.reshape(-1)]
        agree = (around.reshape(len(chunk), 8) == found[chunk][:, None]).all(axis=1)
        found[chunk[~agree]] = None
    return found


# Circle points are looked up by cells of a thousandth of a degree (about 110 m, the polygons' own
# accuracy): photos placed close together share their lookups.
CELLS_PER_DEGREE = 1000
CHUNK_ROWS = 1_000_000


def _circle_cells(lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray) -> np.ndarray:
    """The cells of eight points on each location's circle, as (rows, 8) integer keys."""
    dlat = radius_m / METRES_PER_DEGREE
    dlon = dlat / np.maximum(np.cos(np.radians(lat)), 1e-6)
    angles = np.arange(8) * np.pi / 4
    ys = np.clip(lat[:, None] + dlat[:, None] * np.sin(angles), -90, 90)
    xs = (lon[:, None] + dlon[:, None] * np.cos(angles) + 540) % 360 - 180
    row = np.round((ys + 90) * CELLS_PER_DEGREE).astype(np.int64)
    column = np.round((xs + 180) * CELLS_PER_DEGREE).astype(np.int64) % (360 * CELLS_PER_DEGREE)
    return row * (360 * CELLS_PER_DEGREE) + column


def _cell_centres(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    row, column = np.divmod(keys, 360 * CELLS_PER_DEGREE)
    return row / CELLS_PER_DEGREE - 90, column / CELLS_PER_DEGREE - 180
