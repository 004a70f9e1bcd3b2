"""The names of the place a location lies in: its country, region and city, each given only where
the location's whole circle lies in it (near a border, none rather than the wrong one); at sea, none.

- Country: the time-zone polygons (tzfpy's, built by timezone-boundary-builder from OpenStreetMap's
  borders, within about 110 m) and the country each zone is drawn for (the tz database's zone.tab,
  from the tzdata package). Some polygons reach into other countries that use the zone (zone1970.tab:
  Asia/Bangkok covers northern Vietnam): where Natural Earth's map (locating/regions.py) has no land
  of the zone's country within SHARED_ZONE_REACH_M and one country that uses the zone, that is the
  country; several, or one that does not use the zone (a disputed area), none. South of 60°S,
  Antarctica.
- Region: Natural Earth's admin-1 boundaries, where its country is the country above.
- City: GeoNames' populated places (locating/cities.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import tzfpy

from landmark_tag.locating.circles import NONE, answers_on_circle, one_answer, same_answer
from landmark_tag.locating.cities import cities_at
from landmark_tag.locating.regions import (
    COUNTRY_CODES,
    REGION_BORDER_M,
    country_number,
    region_at,
    region_country_at,
    regions,
)

# Land south of 60°S is Antarctica (the Antarctic Treaty's limit), whatever a time zone's country
# claims there.
ANTARCTIC_LATITUDE = -60.0
# Where a zone is used in several countries, the map overrules the zone's own country only where
# the zone's country is nowhere within this much of the location: the map is too coarse for small
# places (the Belgian enclaves of Baarle-Hertog, in the Netherlands, are not on it).
SHARED_ZONE_REACH_M = 10_000.0
# Zones of land whose country is disputed: no country rather than one side's.
DISPUTED_ZONES = frozenset({"Europe/Simferopol"})


@dataclass(frozen=True)
class PlaceNames:
    """Per location: names, or None where not known for its whole circle."""

    country: np.ndarray  # ISO 3166-1 alpha-2
    region: np.ndarray
    city: np.ndarray


def place_names(lat: np.ndarray, lon: np.ndarray, radius_m: np.ndarray) -> PlaceNames:
    """The names of each location's place (NaN latitude: no location)."""
    zones, table = zone_table(), regions()
    n = len(lat)
    country, centre_zone, region = (np.full(n, NONE, dtype=np.int64) for _ in range(3))
    for rows, answers in answers_on_circle(lat, lon, radius_m, zones.zone_at):
        country[rows] = same_answer(zones.country[answers])
        centre_zone[rows] = answers[:, 0]
    widened = np.maximum(np.nan_to_num(radius_m), REGION_BORDER_M)
    for rows, answers in answers_on_circle(lat, lon, widened, region_at):
        region[rows] = one_answer(answers)
    # Where the zone is used in other countries too, the map's country may be one of those: where
    # none of the map's land within reach is the zone's country, and one country using it is.
    shared = np.flatnonzero((country != NONE) & (zones.countries_using[centre_zone] > 1))
    reach = np.nan_to_num(radius_m[shared]) + SHARED_ZONE_REACH_M
    for rows, answers in answers_on_circle(lat[shared], lon[shared], reach, region_country_at):
        at = shared[rows]
        own = (answers == country[at][:, None]).any(axis=1) | (answers == NONE).all(axis=1)
        mapped = one_answer(answers)
        used = zones.used[centre_zone[at], np.maximum(mapped, 0)] & (mapped != NONE)
        country[at] = np.where(own, country[at], np.where(used, mapped, NONE))
    # On Antarctica's land (not its seas, nor its ice shelves), Antarctica.
    south = lat < ANTARCTIC_LATITUDE
    on_land = table.country[region] == country_number("AQ")
    country[south] = np.where(on_land[south], country_number("AQ"), NONE)
    region[table.country[region] != country] = NONE
    codes = COUNTRY_CODES[country]
    codes[country == NONE] = None
    return PlaceNames(codes, table.name[region], cities_at(lat, lon, radius_m, codes))


@dataclass(frozen=True)
class Zones:
    """The time zones, numbered, with the countries they are drawn for and used in."""

    names: dict[str, int]
    country: np.ndarray  # per zone, the number of the country its polygon is drawn for; NONE last
    used: np.ndarray  # (zones + 1, countries): which countries use each zone
    countries_using: np.ndarray  # per zone, how many

    def zone_at(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The number of the time zone at each point; NONE at sea (or a disputed zone)."""
        return np.array(
            [
                self.names.get(tzfpy.get_tz(x, y), NONE)
                for y, x in zip(lat.tolist(), lon.tolist(), strict=True)
            ],
            dtype=np.int64,
        )


@functools.cache
def zone_table() -> Zones:
    """From the tz database's tables (tzdata): zone.tab gives the country each zone is drawn for,
    zone1970.tab every country that uses it."""
    own: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for table in ("zone.tab", "zone1970.tab"):
        text = resources.files("tzdata").joinpath("zoneinfo", table).read_text(encoding="utf-8")
        for line in text.splitlines():
            if line and not line.startswith("#"):
                codes, _, zone = line.split("\t")[:3]
                if table == "zone.tab":
                    own[zone] = codes
                used.setdefault(zone, set()).update(codes.split(","))
    names = sorted(zone for zone in own if zone not in DISPUTED_ZONES)
    matrix = np.zeros((len(names) + 1, len(COUNTRY_CODES)), dtype=bool)
    for number, zone in enumerate(names):
        matrix[number, [country_number(code) for code in used[zone]]] = True
    return Zones(
        {zone: number for number, zone in enumerate(names)},
        np.array([*(country_number(own[zone]) for zone in names), NONE], dtype=np.int64),
        matrix,
        matrix.sum(axis=1),
    )
