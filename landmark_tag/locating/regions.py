"""The region (state, province; England, Wales, Scotland) a location lies in: Natural Earth's 1:10m
admin-1 boundaries (public domain, "Made with Natural Earth"), merged to each country's first level
and simplified by `scripts/place_data.py` into `data/regions.npz`. Their lines are drawn for maps of
a whole country, so a region is named only where the location's circle, widened to REGION_BORDER_M,
touches one region (the sea aside: the coast is drawn as roughly as the borders), and only where
that region is in the country found for it (places.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import shapely

from landmark_tag.locating.circles import NONE

# How far a location must be from a region's border to be named. Measured against the time-zone
# borders, which follow OpenStreetMap's (benchmarks/studies/region_borders.py, docs/quality.md), the
# 1:10m lines stray most often by under 1 km, and rarely by more than 3 km; the simplification adds
# up to 330 m.
REGION_BORDER_M = 3_000.0
# ISO 3166-1 alpha-2 codes as numbers (AA = 0 ... ZZ = 675), so that answers stay integer arrays.
COUNTRY_CODES = np.array([chr(65 + i // 26) + chr(65 + i % 26) for i in range(26 * 26)], dtype=object)


def country_number(code: str) -> int:
    return (ord(code[0]) - 65) * 26 + ord(code[1]) - 65


@dataclass(frozen=True)
class Regions:
    country: np.ndarray  # per region, its country's number; one more entry, NONE, for no region
    name: np.ndarray  # per region; one more entry, None
    shapes: np.ndarray  # per region, its (prepared) multipolygon


@functools.cache
def regions() -> Regions:
    with resources.files("landmark_tag.locating").joinpath("data", "regions.npz").open("rb") as file:
        data = np.load(file)
        coords = np.cumsum(data["steps"], axis=0) / 10_000
        offsets = (data["ring_ends"], data["polygon_ends"], data["region_ends"])
        shapes = shapely.from_ragged_array(shapely.GeometryType.MULTIPOLYGON, coords, offsets)
        shapely.prepare(shapes)  # point-in-polygon on prepared shapes: indexed edges, not every edge
        countries = [country_number(code) for code in data["country"].tolist()]
        return Regions(
            np.array([*countries, NONE], dtype=np.int64),
            np.array([*data["name"].tolist(), None], dtype=object),
            shapes,
        )


def region_at(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The number of the region each point lies in; NONE outside every region (at sea)."""
    found = np.full(len(lat), NONE, dtype=np.int64)
    # The points in a tree, each region asking for those it contains: the region is the prepared
    # side of each test, which a tree of regions asked about points would not be.
    points = shapely.STRtree(shapely.points(lon, lat))
    region_index, point_index = points.query(regions().shapes, predicate="contains")
    found[point_index] = region_index
    return found


def region_country_at(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The number of the country of the region each point lies in; NONE at sea."""
    return regions().country[region_at(lat, lon)]
