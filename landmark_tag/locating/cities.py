"""The city, town or village a location lies in: GeoNames' populated places of 1000 people or more
(CC BY 4.0, geonames.org; `data/places.npz`, built by `scripts/place_data.py` without the sections
of cities, so that a district never stands for its city).

A point list has no boundaries, so each place is given an extent: the disc its population would
fill at PEOPLE_PER_KM2 (at least MIN_EXTENT_M, at most MAX_EXTENT_M across). A place is named only
where the location's whole circle lies well inside its extent (within INSIDE of it) and every other
place in that country is clearly further in its own extent (CLEAR times): Longueuil across the river
from Montréal is named for itself, a mountain 28 km from the nearest town is named for nothing, and a
place is never taken from across a border (the country must be the location's own).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import shapely

from landmark_tag.locating.circles import cell_centres, cell_keys
from landmark_tag.locating.earth import METRES_PER_DEGREE, distance_m

PEOPLE_PER_KM2 = 1500.0
MIN_EXTENT_M = 1_500.0
MAX_EXTENT_M = 30_000.0
INSIDE = 0.5
CLEAR = 2.0
# Lookups are made once per cell of about 110 m (circles.py) and radius bucket: this much is added
# to the radius, for the distance from a point to its cell's centre.
CELL_HALF_DIAGONAL_M = 80.0


@dataclass(frozen=True)
class Places:
    lat: np.ndarray
    lon: np.ndarray
    extent_m: np.ndarray
    country: np.ndarray
    names: bytes
    ends: np.ndarray
    # Places by how far their extent reaches (up to, their numbers, a tree of their points): a circle
    # is searched for small places only as far as a small place's extent reaches.
    groups: tuple[tuple[float, np.ndarray, shapely.STRtree], ...]
    numbers: np.ndarray  # each place's number in the names

    def name(self, index: int) -> str:
        number = int(self.numbers[index])
        start = int(self.ends[number - 1]) if number else 0
        return self.names[start : int(self.ends[number])].decode("utf-8")


@functools.cache
def places() -> Places:
    with resources.files("landmark_tag.locating").joinpath("data", "places.npz").open("rb") as file:
        data = np.load(file)
        lat, lon = data["lat_e5"] / 1e5, data["lon_e5"] / 1e5
        population, country = data["population"], data["country"]
        extent = np.clip(np.sqrt(population * 1e6 / (np.pi * PEOPLE_PER_KM2)), MIN_EXTENT_M, MAX_EXTENT_M)
        names, ends = data["names"].tobytes(), data["ends"]
        everywhere = Places(
            lat, lon, extent, country, names, ends, _groups(lat, lon, extent), np.arange(len(lat))
        )
    # A seat GeoNames gives no population (Hanoi's districts) is part of the populated place it
    # lies well inside: that place is named there, and the seat is no rival to it.
    unknown = np.flatnonzero(population == 0)
    query, place = _reachable(everywhere, lat[unknown], lon[unknown], np.zeros(len(unknown)))
    part = (population[place] > 0) & (country[place] == country[unknown[query]])
    part &= (
        distance_m(lat[unknown[query]], lon[unknown[query]], lat[place], lon[place]) <= INSIDE * extent[place]
    )
    kept = np.ones(len(lat), dtype=bool)
    kept[unknown[query[part]]] = False
    index = np.flatnonzero(kept)
    lat, lon, extent, country = lat[index], lon[index], extent[index], country[index]
    return Places(lat, lon, extent, country, names, ends, _groups(lat, lon, extent), index)


GROUP_REACH_M = (3_000.0, 10_000.0, MAX_EXTENT_M)


def _groups(
    lat: np.ndarray, lon: np.ndarray, extent: np.ndarray
) -> tuple[tuple[float, np.ndarray, shapely.STRtree], ...]:
    lower = np.array([0.0, *GROUP_REACH_M[:-1]])
    members = [
        np.flatnonzero((extent > low) & (extent <= high))
        for low, high in zip(lower, GROUP_REACH_M, strict=True)
    ]
    return tuple(
        (high, numbers, shapely.STRtree(shapely.points(lon[numbers], lat[numbers])))
        for high, numbers in zip(GROUP_REACH_M, members, strict=True)
    )


def _reachable(
    table: Places, lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(circle, place) pairs: every place whose extent each circle could reach, found in degrees (a
    degree of longitude is shorter away from the equator: the search is widened by it)."""
    points, scale = shapely.points(lon, lat), METRES_PER_DEGREE * np.maximum(np.cos(np.radians(lat)), 0.01)
    pairs = [
        tree.query(points, predicate="dwithin", distance=(reach + radius_m) / scale)
        for reach, _, tree in table.groups
    ]
    query = np.concatenate([found[0] for found in pairs])
    place = np.concatenate(
        [numbers[found[1]] for (_, numbers, _), found in zip(table.groups, pairs, strict=True)]
    )
    return query, place


def cities_at(lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray, country: np.ndarray) -> np.ndarray:
    """Per location with a country, the name of the place it lies in; None elsewhere."""
    named = np.full(len(lat), None, dtype=object)
    rows = np.flatnonzero(country != None)  # noqa: E711 (elementwise)
    if not len(rows):
        return named
    # One lookup per cell, radius (rounded up to a step of about 10%) and country, as one number:
    # the cell in the high bits (under 2**36), the radius's step (under 2**8), the country (2**10).
    radius = np.clip(np.nan_to_num(radius_m[rows]), 1.0, 1e9)
    step = np.ceil(np.log(radius) / np.log(1.1)).astype(np.int64)
    country_code, codes = pd.factorize(country[rows])
    keys = (cell_keys(lat[rows], lon[rows]) << 18) | (step << 10) | country_code
    inverse, unique = pd.factorize(keys)
    ys, xs = cell_centres(unique >> 18)
    reach = 1.1 ** ((unique >> 10) & 0xFF) + CELL_HALF_DIAGONAL_M
    found = _place_within(ys, xs, reach, np.asarray(codes, dtype=object)[unique & 0x3FF])
    table = places()
    names = np.array([table.name(int(i)) if i >= 0 else None for i in found], dtype=object)
    named[rows] = names[inverse]
    return named


def _place_within(lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray, country: np.ndarray) -> np.ndarray:
    """Per circle, the index of the place it lies well inside (see the module's rule); -1 for none."""
    table = places()
    query, place = _reachable(table, lat, lon, radius_m)
    keep = table.country[place] == country[query]
    query, place = query[keep], place[keep]
    apart = distance_m(lat[query], lon[query], table.lat[place], table.lon[place])
    inside = (apart + radius_m[query]) / table.extent_m[place]  # the whole circle, in the extent
    near = np.maximum(apart - radius_m[query], 0.0) / table.extent_m[place]  # its nearest point
    found = np.full(len(lat), -1, dtype=np.int64)
    if not len(query):
        return found
    best_score = np.full(len(lat), np.inf)
    np.minimum.at(best_score, query, inside)
    best = (inside == best_score[query]) & (inside <= INSIDE)
    winner = np.full(len(lat), -1, dtype=np.int64)
    winner[query[best]] = place[best]
    # Another place whose extent the circle reaches, nearly as far in as the best one: no city.
    rival = (place != winner[query]) & (near < np.minimum(1.0, CLEAR * best_score[query]))
    contested = np.zeros(len(lat), dtype=bool)
    contested[query[rival]] = True
    found[~contested] = winner[~contested]
    return found
