"""How far Natural Earth's 1:10m admin-1 lines stray from the true borders, measured where the two
sources of place names must agree: the country of a region (Natural Earth) against the country of
the time-zone polygons (OpenStreetMap's borders, within about 110 m). At random points on land, a
point where they differ lies on the wrong side of a Natural Earth line; its distance from that line
is how far the line strays there. locating/regions.py keeps locations further than that from a
region's border.

    python -m benchmarks.studies.region_borders [--points 2000000]
"""

from __future__ import annotations

import argparse

import numpy as np
import shapely

from landmark_tag.locating.circles import NONE
from landmark_tag.locating.earth import METRES_PER_DEGREE
from landmark_tag.locating.places import zone_table
from landmark_tag.locating.regions import region_at, regions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, args.points)))  # uniform on the sphere
    lon = rng.uniform(-180, 180, args.points)
    index = region_at(lat, lon)
    on_land = np.flatnonzero(index != NONE)
    zones = zone_table()
    zone = zones.zone_at(lat[on_land], lon[on_land])
    table = regions()
    # Zones of one country only, north of Antarctica (whose zones follow the claims on it).
    single = (zone != NONE) & (zones.countries_using[zone] == 1) & (lat[on_land] > -60)
    wrong = on_land[single & (zones.country[zone] != table.country[index[on_land]])]
    shapes = table.shapes[index[wrong]]
    degrees = shapely.distance(shapely.boundary(shapes), shapely.points(lon[wrong], lat[wrong]))
    # A degree of longitude is shorter away from the equator: the larger of the two scales is an
    # upper bound on the distance.
    metres = np.sort(degrees * METRES_PER_DEGREE)
    print(f"{len(on_land):,} random points on Natural Earth's land; {len(wrong):,} in another country there")
    # Far from a line the two disagree on whose land it is (Western Sahara, Aksai Chin), not on
    # where a line runs: the count by distance shows where line errors end and disputes begin.
    edges = [0, 500, 1000, 2000, 3000, 5000, 10_000, 20_000, 50_000, np.inf]
    counts, _ = np.histogram(metres, bins=edges)
    for low, high, count in zip(edges, edges[1:], counts, strict=False):
        print(f"  {low / 1000:>5g} to {high / 1000:>5g} km from the line: {count:,}")


if __name__ == "__main__":
    main()
