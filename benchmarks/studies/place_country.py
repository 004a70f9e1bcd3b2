"""The country of a location: landmark-tag's (time-zone polygons, each zone's country) beside a
plain nearest-city lookup (reverse_geocode, GeoNames places of 1,000 people or more), on points
whose country was checked by hand (tests/locating/test_places.py), borders and the sea above all.

    pip install reverse_geocode
    python -m benchmarks.studies.place_country
"""

from __future__ import annotations

import numpy as np

from landmark_tag.locating.places import countries_at
from tests.locating.test_places import CHECKED


def main() -> None:
    try:
        import reverse_geocode
    except ImportError:
        raise SystemExit("this study compares with reverse_geocode: pip install reverse_geocode") from None
    print("| point | checked | time-zone polygons | nearest city |")
    print("| --- | --- | --- | --- |")
    right = {"zones": 0, "nearest": 0}
    for (lat, lon), want in CHECKED:
        zone = countries_at(np.array([lat]), np.array([lon]), np.array([20.0]))[0]
        nearest = reverse_geocode.get((lat, lon))["country_code"]
        right["zones"] += zone == want
        right["nearest"] += nearest == want
        print(f"| {lat:.4f}, {lon:.4f} | {want or '-'} | {zone or '-'} | {nearest or '-'} |")
    print(f"| right | {len(CHECKED)} | {right['zones']} | {right['nearest']} |")


if __name__ == "__main__":
    main()
