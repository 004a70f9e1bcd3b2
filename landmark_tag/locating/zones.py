"""A camera clock's time in UTC from where the photo was taken: the time zone at that place (tzfpy,
from the timezone-boundary-builder's OpenStreetMap-based polygons) and its offset on that date,
summer time included (the tz database, through pandas). For clocks that nothing else ties to UTC:
a photo's offset tag, its camera's offset learned from GPS times and its GPS time all say more."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tzfpy


def zone_utc(local: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """UTC seconds for the wall-clock times `local` (seconds, as the clock read) at (lat, lon); NaN
    where that is not known: no place or time, at sea (the nautical Etc/ zones: no one sets a
    camera to them), or a time the zone skips or passes twice that day (a summer-time change)."""
    utc = np.full(len(local), np.nan)
    rows = np.flatnonzero(~np.isnan(local) & ~np.isnan(lat) & ~np.isnan(lon))
    if not len(rows):
        return utc
    # Zone names by code, not as an array of strings: 10 million photos' names would take gigabytes.
    codes, names = np.empty(len(rows), dtype=np.int32), dict[str, int]()
    for index, (x, y) in enumerate(zip(lon[rows].tolist(), lat[rows].tolist(), strict=True)):
        codes[index] = names.setdefault(tzfpy.get_tz(x, y), len(names))
    for zone, code in names.items():
        if not zone or zone.startswith("Etc/"):
            continue
        here = rows[codes == code]
        wall = pd.DatetimeIndex(pd.to_datetime(np.round(local[here] * 1e6).astype(np.int64), unit="us"))
        aware = wall.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        known = ~aware.isna()
        utc[here[known]] = (aware[known] - pd.Timestamp(0, tz="UTC")).total_seconds().to_numpy()
    return utc
