# ruff: noqa: E501 (tables of test data, one case a line)
import json

import numpy as np
import pytest

from landmark_tag.errors import ConfigError
from landmark_tag.locating.named_places import named_place_at, read_named_places

HOME = (50.8800, 4.3200)


def places_csv(tmp_path, text: str, name: str = "places.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def at(places, points, radius=20.0):
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    return list(named_place_at(places, lat, lon, np.full(len(points), radius)))


def test_a_point_place_names_the_locations_whose_circle_is_inside_and_the_smallest_wins(tmp_path):
    path = places_csv(
        tmp_path,
        "name,latitude,longitude,radius_m\n"
        f"Home,{HOME[0]},{HOME[1]},100\n"
        f"The neighbourhood,{HOME[0]},{HOME[1]},2000\n"
        "Grandma's house,48.85,2.35,150\n",
    )
    places = read_named_places(path)
    # 50 m from home; 90 m from home (its 20 m circle reaches out of the 100 m); 1 km away; Paris; nowhere.
    points = [
        (HOME[0] + 0.00045, HOME[1]),
        (HOME[0] + 0.00081, HOME[1]),
        (HOME[0] + 0.009, HOME[1]),
        (48.8501, 2.3501),
        (0.5, 0.5),
    ]
    assert at(places, points) == ["Home", "The neighbourhood", "The neighbourhood", "Grandma's house", None]
    assert at(places, [(HOME[0], HOME[1])], radius=500.0) == ["The neighbourhood"]  # too wide for Home
    assert at(places, [(np.nan, np.nan)]) == [None]


def test_polygons_and_points_in_geojson(tmp_path):
    cabin = [[4.30, 50.90], [4.31, 50.90], [4.31, 50.91], [4.30, 50.91], [4.30, 50.90]]
    document = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "The cabin"}, "geometry": {"type": "Polygon", "coordinates": [cabin]}},
            {"type": "Feature", "properties": {"name": "Home", "radius_m": 100}, "geometry": {"type": "Point", "coordinates": [HOME[1], HOME[0]]}},
            {"type": "Feature", "properties": {"name": "Islands"}, "geometry": {"type": "MultiPolygon", "coordinates": [
                [[[10, 10], [10.1, 10], [10.1, 10.1], [10, 10.1], [10, 10]]],
                [[[11, 11], [11.1, 11], [11.1, 11.1], [11, 11.1], [11, 11]]],
            ]}},
        ],
    }  # fmt: skip
    path = tmp_path / "places.geojson"
    path.write_text(json.dumps(document))
    places = read_named_places(str(path))
    points = [(50.905, 4.305), (50.9099, 4.305), HOME, (11.05, 11.05), (10.5, 10.5)]
    # The second is 11 m inside the cabin's edge: its 20 m circle is not.
    assert at(places, points) == ["The cabin", None, "Home", "Islands", None]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.csv", "name,lat,lon\nHome,1,2\n", "no column latitude, longitude, radius_m"),
        ("p.csv", "name,latitude,longitude,radius_m\nHome,50.1,north,10\n", "line 2: latitude, longitude and radius_m must be numbers"),
        ("p.csv", "name,latitude,longitude,radius_m\nHome,50.1,4.1,0\n", "line 2 (Home): radius_m must be a number of metres above 0"),
        ("p.csv", "name,latitude,longitude,radius_m\nHome,95,4.1,10\n", "line 2 (Home): latitude and longitude out of range"),
        ("p.csv", "name,latitude,longitude,radius_m\n,50.1,4.1,10\n", "line 2: the place has no name"),
        ("p.csv", "name,latitude,longitude,radius_m\n", "names no place"),
        ("p.geojson", "{not json", "is not JSON"),
        ("p.geojson", '{"type": "Feature"}', "a GeoJSON FeatureCollection is needed"),
        ("p.geojson", '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "A"}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}]}', "feature 1: a Point, Polygon or MultiPolygon is needed, not LineString"),
        ("p.geojson", '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "Bow"}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}]}', "feature 1 (Bow): the polygon is not valid"),
        ("p.txt", "Home 1 2", "use a .csv or a .geojson file"),
    ],
)  # fmt: skip
def test_a_bad_places_file_gets_one_clear_error(tmp_path, name, text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_named_places(places_csv(tmp_path, text, name))


def test_a_missing_places_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read_named_places(str(tmp_path / "nowhere.csv"))
