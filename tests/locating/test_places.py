import numpy as np
import pytest

from landmark_tag.locating.places import place_names


def P(name, lat, lon, country, region, city, border=False):
    """A point whose place was checked by hand: its country, region and city (the data's own
    spelling of the right one; None where there is none: the sea, a mountain far from any town, a
    disputed area). `border`: within 3 km of a border, where landmark-tag may rightly give none."""
    return pytest.param((lat, lon), country, region, city, border, id=name)


# Borders above all, then the sea, the antimeridian, the poles and remote places.
CHECKED = [
    P("St Peter's Basilica", 41.9022, 12.4539, "VA", None, "Vatican City", border=True),
    P("the Colosseum", 41.8902, 12.4922, "IT", "Lazio", "Rome"),
    P("Castel Sant'Angelo, beside the Vatican", 41.9031, 12.4663, "IT", "Lazio", "Rome", border=True),
    P("Notre-Dame Basilica, Montreal", 45.5045, -73.5561, "CA", "Québec", "Montréal"),
    P("Longueuil, across the river", 45.5312, -73.5181, "CA", "Québec", "Longueuil"),
    P("Mount Royal", 45.5060, -73.5880, "CA", "Québec", "Montréal"),
    P("Windsor city hall, across from Detroit", 42.3175, -83.0373, "CA", "Ontario", "Windsor", border=True),
    P("Detroit, across from Windsor", 42.3293, -83.0398, "US", "Michigan", "Detroit", border=True),
    P("Table Rock, Niagara Falls", 43.0794, -79.0787, "CA", "Ontario", "Niagara Falls", border=True),
    P("Point Roberts, a US exclave", 48.9840, -123.0770, "US", "Washington", "Point Roberts", border=True),
    P("Vancouver", 49.2827, -123.1207, "CA", "British Columbia", "Vancouver"),
    P("Banff", 51.1784, -115.5708, "CA", "Alberta", "Banff"),
    P("Chester, 3 km from Wales", 53.1919, -2.8906, "GB", "England", "Chester", border=True),
    P("Flint, across the Dee", 53.2505, -3.1310, "GB", "Wales", "Flint"),
    P("Llangollen", 52.9700, -3.1700, "GB", "Wales", "Llangollen"),
    P("Shrewsbury", 52.7077, -2.7540, "GB", "England", "Shrewsbury"),
    P("Edinburgh Castle", 55.9486, -3.1999, "GB", "Scotland", "Edinburgh"),
    P("Belfast City Hall", 54.5964, -5.9301, "GB", "Northern Ireland", "Belfast"),
    P("Baarle-Hertog, a Belgian enclave", 51.4406, 4.9297, "BE", "Antwerp", "Baarle-Hertog", border=True),
    P("Baarle-Nassau, around it", 51.4476, 4.9296, "NL", "Noord-Brabant", "Baarle-Nassau", border=True),
    P("the Eiffel Tower", 48.8584, 2.2945, "FR", "Île-de-France", "Paris"),
    P("Chamonix", 45.9237, 6.8694, "FR", "Auvergne-Rhône-Alpes", "Chamonix-Mont-Blanc"),
    P("Monte Carlo casino", 43.7396, 7.4276, "MC", None, "Monaco", border=True),
    P("San Marino", 43.9356, 12.4473, "SM", None, "San Marino", border=True),
    P("the Jet d'Eau, Geneva", 46.2074, 6.1557, "CH", "Genève", "Genève"),
    P("Basel Minster, by France and Germany", 47.5565, 7.5925, "CH", "Basel-Stadt", "Basel", border=True),
    P("the Brandenburg Gate", 52.5163, 13.3777, "DE", "Berlin", "Berlin"),
    P("St Stephen's, Vienna", 48.2085, 16.3731, "AT", "Wien", "Vienna"),
    P("Old Town Square, Prague", 50.0875, 14.4213, "CZ", "Prague", "Prague"),
    P("the Sagrada Família", 41.4036, 2.1744, "ES", "Cataluña", "Barcelona"),
    P("the Alhambra", 37.1761, -3.5881, "ES", "Andalucía", "Granada"),
    P("the summit of Teide", 28.2724, -16.6425, "ES", "Canary Islands", None),
    P("Belém Tower, on the Tagus", 38.6916, -9.2160, "PT", "Lisboa", "Lisbon", border=True),
    P("the Acropolis", 37.9715, 23.7257, "GR", "Attiki", "Athens"),
    P("Hagia Sophia", 41.0086, 28.9802, "TR", "Istanbul", "Istanbul"),
    P("Red Square", 55.7539, 37.6208, "RU", "Moskva", "Moscow"),
    P("Simferopol, Crimea (disputed)", 44.9521, 34.1024, None, None, None),
    P("Pristina (disputed)", 42.6629, 21.1655, None, None, None),
    P(
        "Times Square, 1.3 km from New Jersey",
        40.7580,
        -73.9855,
        "US",
        "New York",
        "New York City",
        border=True,
    ),
    P("the Golden Gate Bridge", 37.8078, -122.4750, "US", "California", "San Francisco"),
    P(
        "the Washington Monument",
        38.8895,
        -77.0353,
        "US",
        "District of Columbia",
        "Washington, D.C.",
        border=True,
    ),
    P("the summit of Mount Hood", 45.3736, -121.6959, "US", "Oregon", None),
    P("Phantom Ranch, Grand Canyon", 36.1056, -112.0947, "US", "Arizona", None),
    P("the summit of Denali", 63.0692, -151.0070, "US", "Alaska", None),
    P("the Zócalo, Mexico City", 19.4326, -99.1332, "MX", "Distrito Federal", "Mexico City"),
    P("Machu Picchu", -13.1631, -72.5450, "PE", "Cusco", None),
    P("Christ the Redeemer", -22.9519, -43.2105, "BR", "Rio de Janeiro", "Rio de Janeiro"),
    P("Ushuaia", -54.8019, -68.3030, "AR", "Tierra del Fuego", "Ushuaia"),
    P(
        "Porvenir, Chilean Tierra del Fuego",
        -53.2956,
        -70.3686,
        "CL",
        "Magallanes y Antártica Chilena",
        "Porvenir",
    ),
    P("Table Mountain", -33.9628, 18.4098, "ZA", "Western Cape", "Cape Town"),
    P("the Pyramids of Giza", 29.9792, 31.1342, "EG", "Al Jizah", "Giza"),
    P("the Ahaggar, Sahara", 23.0, 5.5, "DZ", "Tamanghasset", None),
    P("Laayoune, Western Sahara", 27.1536, -13.2033, "EH", None, "Laayoune"),
    P("the Gobi", 43.0, 105.0, "MN", "Ömnögovi", None),
    P("Uluru", -25.3444, 131.0369, "AU", "Northern Territory", None),
    P("Sydney Opera House", -33.8568, 151.2153, "AU", "New South Wales", "Sydney"),
    P("Tokyo Tower", 35.6586, 139.7454, "JP", "Tokyo", "Tokyo"),
    P("the summit of Mount Fuji, between two prefectures", 35.3606, 138.7274, "JP", None, None, border=True),
    P("the Taj Mahal", 27.1751, 78.0421, "IN", "Uttar Pradesh", "Agra"),
    P("the summit of Everest, on the border", 27.9881, 86.9250, None, None, None, border=True),
    # Koshi Province since 2015 (Natural Earth still has the zones before it); its line of the
    # Chinese border is coarse here, and the region is left out.
    P("Everest base camp, 6 km from China", 28.0026, 86.8528, "NP", "Koshi", None, border=True),
    P("Hoan Kiem Lake, Hanoi (zone Asia/Bangkok)", 21.0285, 105.8522, "VN", "Ha Noi", "Hanoi"),
    P("Lao Cai, on the Chinese border", 22.4856, 103.9707, "VN", "Lào Cai", "Lào Cai", border=True),
    P("the Grand Palace, Bangkok", 13.7500, 100.4913, "TH", "Bangkok Metropolis", "Bangkok"),
    P("Kota Kinabalu (zone shared with Brunei)", 5.9804, 116.0735, "MY", "Sabah", "Kota Kinabalu"),
    P("Marina Bay, Singapore", 1.2834, 103.8607, "SG", "Central Singapore", "Singapore"),
    P("Taveuni, west of the 180th meridian", -16.79, 179.999, "FJ", "Northern", None),
    P("Taveuni, east of it", -16.79, -179.999, "FJ", "Northern", None),
    P("the Atlantic", 40.0, -40.0, None, None, None),
    P("the Pacific", -30.0, -150.0, None, None, None),
    P("the North Pole, on the sea ice", 90.0, 0.0, None, None, None),
    P("the South Pole", -90.0, 0.0, "AQ", "Antarctica", None),
]


@pytest.mark.parametrize(("point", "country", "region", "city", "border"), CHECKED)
def test_names_are_right_or_none(point, country, region, city, border):
    """Never a wrong name. Away from borders, the country and region are given; a city only where
    the point lies well inside it (else none)."""
    names = place_names(np.array([point[0]]), np.array([point[1]]), np.array([20.0]))
    got = (names.country[0], names.region[0], names.city[0])
    assert got[0] == country or (border and got[0] is None), got
    assert got[1] == region or ((border or got[0] is None) and got[1] is None), got
    assert got[2] in (city, None), got


def test_at_least_fifty_points_are_checked():
    assert len(CHECKED) >= 50


def test_a_circle_across_a_border_gets_no_country():
    # St Peter's, 2 km either way: Rome too.
    lat, lon = np.array([41.9022, np.nan]), np.array([12.4539, 2.0])
    names = place_names(lat, lon, np.array([2000.0, 20.0]))
    assert list(names.country) == [None, None]
    assert place_names(np.array([41.8902]), np.array([12.4922]), np.array([2000.0])).country[0] == "IT"


def test_a_circle_wider_than_a_city_gets_no_city():
    names = place_names(
        np.array([41.8902, 41.8902]), np.array([12.4922, 12.4922]), np.array([20.0, 15_000.0])
    )
    assert list(names.city) == ["Rome", None]
    assert list(names.region) == ["Lazio", "Lazio"]  # Lazio is wider than 15 km around Rome
