"""The names of a location's place: landmark-tag's (time-zone and Natural Earth borders, GeoNames
places within their extent) beside a plain nearest-city lookup (reverse_geocode: the nearest of
GeoNames' places of 1,000 people or more, with its region and country), on points whose place was
checked by hand (tests/locating/test_places.py): borders, the sea, the antimeridian, the poles,
remote places.

A name is right, none, or wrong; names are compared without case and accents (the two data sets
spell some regions differently: Québec and Quebec).

    pip install reverse_geocode
    python -m benchmarks.studies.place_names
"""

from __future__ import annotations

import unicodedata

import numpy as np

from landmark_tag.locating.places import place_names
from tests.locating.test_places import CHECKED

LEVELS = ("country", "region", "city")
# The nearest-city lookup spells some regions and cities in English where the checked name is the
# data's own: the same place, judged by hand.
SAME = {
    frozenset(pair)
    for pair in [
        ("Catalonia", "Cataluña"),
        ("Andalusia", "Andalucía"),
        ("North Brabant", "Noord-Brabant"),
        ("Geneva", "Genève"),
        ("Basel-City", "Basel-Stadt"),
        ("State of Berlin", "Berlin"),
        ("Vienna", "Wien"),
        ("Lisbon", "Lisboa"),
        ("Attica", "Attiki"),
        ("Moscow", "Moskva"),
        ("Mexico City", "Distrito Federal"),
        ("Cuzco Department", "Cusco"),
        ("Giza", "Al Jizah"),
        ("Region of Magallanes", "Magallanes y Antártica Chilena"),
        ("Tamanrasset", "Tamanghasset"),
        ("Hanoi", "Ha Noi"),
        ("Lào Cai Province", "Lào Cai"),
        ("Bangkok", "Bangkok Metropolis"),
        ("Washington", "Washington, D.C."),
        ("Ömnögovĭ", "Ömnögovi"),
    ]
}


def _plain(name: str | None) -> str | None:
    if name is None:
        return None
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _judge(got: str | None, want: str | None) -> str:
    if got is None:
        return "right" if want is None else "none"
    same = _plain(got) == _plain(want) or frozenset((got, want)) in SAME
    return "right" if same else "wrong"


def main() -> None:
    try:
        import reverse_geocode
    except ImportError:
        raise SystemExit("this study compares with reverse_geocode: pip install reverse_geocode") from None
    points = [param.values for param in CHECKED]
    lat = np.array([p[0][0] for p in points])
    lon = np.array([p[0][1] for p in points])
    ours = place_names(lat, lon, np.full(len(points), 20.0))
    nearest = reverse_geocode.search(list(zip(lat.tolist(), lon.tolist(), strict=True)))
    counts = {
        (who, level, verdict): 0
        for who in ("ours", "nearest")
        for level in LEVELS
        for verdict in ("right", "none", "wrong")
    }
    print("| point | checked | landmark-tag | nearest city |")
    print("| --- | --- | --- | --- |")
    for row, (param, near) in enumerate(zip(CHECKED, nearest, strict=True)):
        want = dict(zip(LEVELS, param.values[1:4], strict=True))
        got = {"country": ours.country[row], "region": ours.region[row], "city": ours.city[row]}
        # A nearest-place lookup names a place wherever it is asked: at sea too.
        close = {"country": near.get("country_code"), "region": near.get("state"), "city": near.get("city")}
        for level in LEVELS:
            counts[("ours", level, _judge(got[level], want[level]))] += 1
            counts[("nearest", level, _judge(close[level], want[level]))] += 1
        show = lambda names: " / ".join(names[level] or "-" for level in LEVELS)  # noqa: E731
        print(f"| {param.id} | {show(want)} | {show(got)} | {show(close)} |")
    print()
    print("| names | landmark-tag: right / none / wrong | nearest city: right / none / wrong |")
    print("| --- | --- | --- |")
    for level in LEVELS:
        cells = [
            " / ".join(str(counts[(who, level, v)]) for v in ("right", "none", "wrong"))
            for who in ("ours", "nearest")
        ]
        print(f"| {level} ({len(CHECKED)} points) | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
