import math

import pytest

from landmark_tag.model.gazetteer import (
    GazetteerError,
    builtin_gazetteer,
    load_gazetteer,
    match_key,
    places_for,
)

DATASET_CLASSES = [
    "00.Haleakala_National_Park",
    "01.Mount_Rainier_National_Park",
    "02.Ljubljana_Castle",
    "03.Dead_Sea",
    "04.Wroclaws_Dwarves",
    "05.London_Olympic_Stadium",
    "06.Niagara_Falls",
    "07.Stonehenge",
    "08.Grand_Canyon",
    "09.Golden_Gate_Bridge",
    "10.Edinburgh_Castle",
    "11.Mount_Rushmore_National_Memorial",
    "12.Kantanagar_Temple",
    "13.Yellowstone_National_Park",
    "14.Terminal_Tower",
    "15.Central_Park",
    "16.Eiffel_Tower",
    "17.Changdeokgung",
    "18.Delicate_Arch",
    "19.Vienna_City_Hall",
    "20.Matterhorn",
    "21.Taj_Mahal",
    "22.Moscow_Raceway",
    "23.Externsteine",
    "24.Soreq_Cave",
    "25.Banff_National_Park",
    "26.Pont_du_Gard",
    "27.Seattle_Japanese_Garden",
    "28.Sydney_Harbour_Bridge",
    "29.Petronas_Towers",
    "30.Brooklyn_Bridge",
    "31.Washington_Monument",
    "32.Hanging_Temple",
    "33.Sydney_Opera_House",
    "34.Great_Barrier_Reef",
    "35.Monumento_a_la_Revolucion",
    "36.Badlands_National_Park",
    "37.Atomium",
    "38.Forth_Bridge",
    "39.Gateway_of_India",
    "40.Stockholm_City_Hall",
    "41.Machu_Picchu",
    "42.Death_Valley_National_Park",
    "43.Gullfoss_Falls",
    "44.Trevi_Fountain",
    "45.Temple_of_Heaven",
    "46.Great_Wall_of_China",
    "47.Prague_Astronomical_Clock",
    "48.Whitby_Abbey",
    "49.Temple_of_Olympian_Zeus",
]

# Published coordinates of each landmark (the structure itself, or a spot inside the park or reef),
# written down separately from the gazetteer file: (latitude, longitude, country).
REFERENCE = {
    "16.Eiffel_Tower": (48.85826, 2.29451, "FR"),
    "21.Taj_Mahal": (27.17500, 78.04194, "IN"),
    "09.Golden_Gate_Bridge": (37.81972, -122.47861, "US"),
    "33.Sydney_Opera_House": (-33.85750, 151.21500, "AU"),
    "07.Stonehenge": (51.17889, -1.82611, "GB"),
    "41.Machu_Picchu": (-13.16306, -72.54500, "PE"),
    "44.Trevi_Fountain": (41.90093, 12.48331, "IT"),
    "37.Atomium": (50.89500, 4.34150, "BE"),
    "29.Petronas_Towers": (3.15785, 101.71165, "MY"),
    "30.Brooklyn_Bridge": (40.70611, -73.99694, "US"),
    "31.Washington_Monument": (38.88944, -77.03528, "US"),
    "20.Matterhorn": (45.97639, 7.65861, "CH"),
    "26.Pont_du_Gard": (43.94750, 4.53500, "FR"),
    "10.Edinburgh_Castle": (55.94861, -3.20083, "GB"),
}


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (map(math.radians, p) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def test_builtin_gazetteer_covers_the_dataset_classes():
    places = builtin_gazetteer()
    assert sorted(places) == DATASET_CLASSES
    for place in places.values():
        assert place.name and (place.country is None or len(place.country) == 2)


@pytest.mark.parametrize("class_name", sorted(REFERENCE))
def test_builtin_coordinates_match_published_ones(class_name):
    lat, lon, country = REFERENCE[class_name]
    place = builtin_gazetteer()[class_name]
    assert distance_km((place.latitude, place.longitude), (lat, lon)) < 3.0
    assert place.country == country


def test_places_match_folder_names_with_or_without_number_prefix():
    places, unused = places_for(["Eiffel_Tower", "taj mahal", "My_Garden"], builtin_gazetteer())
    assert places["Eiffel_Tower"].wikidata == "Q243"
    assert places["Eiffel_Tower"].class_name == "Eiffel_Tower"
    assert places["taj mahal"].country == "IN"
    assert "My_Garden" not in places
    assert len(unused) == 48
    assert match_key("16.Eiffel_Tower") == match_key("eiffel  tower") == "eiffel tower"


def test_user_gazetteer_file(tmp_path):
    path = tmp_path / "places.csv"
    path.write_text(
        "class_name,name,latitude,longitude,country,wikidata\n"
        "Petra,Petra,30.3285,35.4444,jo,\n"
        "Chichen Itza,Chichén Itzá,20.6843,-88.5678,MX,\n",
        encoding="utf-8",
    )
    places = load_gazetteer(path)
    assert places["Petra"].country == "JO"
    assert places["Chichen Itza"].name == "Chichén Itzá"
    assert places["Petra"].wikidata is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Petra,Petra,95,35,JO,", "latitude 95.0 is outside"),
        ("Petra,Petra,30,181,JO,", "longitude 181.0 is outside"),
        ("Petra,Petra,north,35,JO,", "decimal degrees"),
        ("Petra,Petra,30,35,Jordan,", "ISO 3166"),
        ("Petra,Petra,30,35,JO,Petra", "QID"),
        (",Petra,30,35,JO,", "empty class_name"),
    ],
)
def test_bad_rows_are_reported_with_their_line(tmp_path, row, message):
    path = tmp_path / "places.csv"
    path.write_text("class_name,name,latitude,longitude,country,wikidata\n" + row + "\n")
    with pytest.raises(GazetteerError, match=f"line 2: .*{message}"):
        load_gazetteer(path)


def test_missing_columns_and_files(tmp_path):
    path = tmp_path / "places.csv"
    path.write_text("name,lat,lon\nPetra,30,35\n")
    with pytest.raises(GazetteerError, match="missing column"):
        load_gazetteer(path)
    with pytest.raises(GazetteerError, match="no gazetteer file"):
        load_gazetteer(tmp_path / "absent.csv")
