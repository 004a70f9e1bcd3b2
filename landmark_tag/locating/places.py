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

METRES_PER_DEGREE = 111_320.0
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
    if not len(wide):
        return found
    # The circle's points, rounded to about 10 m: photos placed close together share their lookups.
    dlat = radius_m[wide] / METRES_PER_DEGREE
    dlon = dlat / np.maximum(np.cos(np.radians(lat[wide])), 1e-6)
    angles = np.arange(8) * np.pi / 4
    ys = np.clip(lat[wide][:, None] + dlat[:, None] * np.sin(angles), -90, 90).round(4)
    xs = ((lon[wide][:, None] + dlon[:, None] * np.cos(angles) + 540) % 360 - 180).round(4)
    points, inverse = np.unique(np.stack([ys.ravel(), xs.ravel()], axis=1), axis=0, return_inverse=True)
    around = _countries(points[:, 0], points[:, 1])[inverse.reshape(-1)].reshape(len(wide), 8)
    agree = (around == found[wide][:, None]).all(axis=1)
    found[wide[~agree]] = None
    return found
