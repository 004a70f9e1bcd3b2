import numpy as np
import pytest

from landmark_tag.locating.places import countries_at

# Points whose country was checked by hand, at borders above all.
CHECKED = [
    ((41.9022, 12.4568), "VA"),  # St Peter's Square
    ((41.8902, 12.4922), "IT"),  # the Colosseum, Rome
    ((42.3000, -83.0300), "CA"),  # Windsor, Ontario, across the river from Detroit
    ((42.3300, -83.0500), "US"),  # Detroit
    ((45.5300, -73.5100), "CA"),  # Longueuil
    ((51.4406, 4.9297), "BE"),  # Baarle-Hertog, a Belgian enclave in the Netherlands
    ((51.4476, 4.9296), "NL"),  # Baarle-Nassau, around it
    ((45.3736, -121.6959), "US"),  # Mount Hood
    ((-16.5000, 179.9900), "FJ"),  # Fiji, by the antimeridian
    ((40.0000, -40.0000), None),  # the Atlantic
    ((89.9000, 0.0000), None),  # the North Pole, on the sea ice
]


@pytest.mark.parametrize(("point", "country"), CHECKED)
def test_the_country_is_the_one_the_point_lies_in(point, country):
    assert countries_at(np.array([point[0]]), np.array([point[1]]), np.array([20.0]))[0] == country


def test_a_circle_across_a_border_gets_no_country():
    # St Peter's, 2 km either way: Rome too.
    lat, lon = np.array([41.9022, np.nan]), np.array([12.4568, 2.0])
    assert list(countries_at(lat, lon, np.array([2000.0, 20.0]))) == [None, None]
    assert countries_at(np.array([41.8902]), np.array([12.4922]), np.array([2000.0]))[0] == "IT"
