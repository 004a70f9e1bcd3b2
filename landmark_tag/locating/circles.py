"""Answers that hold for a location's whole circle: a lookup (a country, a region) at its centre and
at eight points on the circle of its radius, so that near a border the answer can be none rather
than the wrong one.

Points are looked up by cells of a thousandth of a degree (about 110 m; the centre too): photos
placed close together share their lookups, which is what makes ten million rows take seconds. A
circle is checked at least MIN_RADIUS_M wide, so that a centre's cell never answers for a point
across a border: the circle's own points reach it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from landmark_tag.locating.earth import METRES_PER_DEGREE

CELLS_PER_DEGREE = 1000
MIN_RADIUS_M = 110.0  # over the ~80 m from a point to its cell's centre
CHUNK_ROWS = 1_000_000  # nine points a row add up: looked up in chunks
NONE = -1
# A lookup: (latitudes, longitudes) -> an integer answer per point, NONE for none.
Lookup = Callable[[np.ndarray, np.ndarray], np.ndarray]


def answers_on_circle(
    lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray, lookup: Lookup
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, answers) in chunks, for the rows with a location: `lookup`'s answers at each one's
    centre (column 0) and at eight points on its circle, as a (rows, 9) integer array."""
    rows = np.flatnonzero(~np.isnan(lat) & ~np.isnan(lon))
    cache_keys, cache_answers = np.empty(0, np.int64), np.empty(0, np.int64)  # sorted by key
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        radius = np.maximum(np.nan_to_num(radius_m[chunk]), MIN_RADIUS_M)
        keys = np.column_stack(
            [cell_keys(lat[chunk], lon[chunk]), circle_cells(lat[chunk], lon[chunk], radius)]
        )
        inverse, cells = pd.factorize(keys.reshape(-1))  # hashing: no sort of nine points a row
        known = np.isin(cells, cache_keys)
        new = np.sort(cells[~known])
        if len(new):
            ys, xs = cell_centres(new)
            cache_keys = np.concatenate([cache_keys, new])
            cache_answers = np.concatenate([cache_answers, lookup(ys, xs).astype(np.int64)])
            order = np.argsort(cache_keys, kind="stable")
            cache_keys, cache_answers = cache_keys[order], cache_answers[order]
        answers = cache_answers[np.searchsorted(cache_keys, cells)]
        yield chunk, answers[inverse].reshape(len(chunk), 9)


def same_answer(answers: np.ndarray) -> np.ndarray:
    """Per row, the answer where all nine points give it; NONE elsewhere."""
    agree = (answers == answers[:, :1]).all(axis=1)
    return np.where(agree, answers[:, 0], NONE)


def one_answer(answers: np.ndarray) -> np.ndarray:
    """Per row, the one answer other than NONE (points without one, such as the sea for regions,
    do not count: a harbour is in its region); NONE where there are none or several."""
    known = answers != NONE
    low = np.where(known, answers, np.iinfo(np.int64).max).min(axis=1)
    high = np.where(known, answers, NONE).max(axis=1)
    return np.where(low == high, high, NONE)


def circle_points(lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eight points on each location's circle: (latitudes, longitudes), each (rows, 8)."""
    dlat = radius_m / METRES_PER_DEGREE
    dlon = dlat / np.maximum(np.cos(np.radians(lat)), 1e-6)
    angles = np.arange(8) * np.pi / 4
    ys = np.clip(lat[:, None] + dlat[:, None] * np.sin(angles), -90, 90)
    xs = (lon[:, None] + dlon[:, None] * np.cos(angles) + 540) % 360 - 180
    return ys, xs


def circle_cells(lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray) -> np.ndarray:
    """The cells of eight points on each location's circle, as (rows, 8) integer keys."""
    return cell_keys(*circle_points(lat, lon, radius_m))


def cell_keys(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    row = np.round((lat + 90) * CELLS_PER_DEGREE).astype(np.int64)
    column = np.round((lon + 180) * CELLS_PER_DEGREE).astype(np.int64) % (360 * CELLS_PER_DEGREE)
    return row * (360 * CELLS_PER_DEGREE) + column


def cell_centres(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    row, column = np.divmod(keys, 360 * CELLS_PER_DEGREE)
    return row / CELLS_PER_DEGREE - 90, column / CELLS_PER_DEGREE - 180
