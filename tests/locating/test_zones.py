from datetime import datetime, timezone

import numpy as np
import pytest

from landmark_tag.locating.fixes import LocateSettings
from landmark_tag.locating.locate import locate
from landmark_tag.locating.zones import zone_utc
from tests.locating.test_locate import row, table

PARIS = (48.8566, 2.3522)


def wall(text: str) -> float:
    """A camera clock's reading, as the output stores it (seconds, as if it were UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("clock", "offset_h"),
    [
        ("2024-01-15 12:00", 1.0),  # winter time
        ("2024-07-01 12:00", 2.0),  # summer time
        ("2024-03-31 01:30", 1.0),  # the night summer time starts: before the change
        ("2024-03-31 03:30", 2.0),  # and after it
        ("2024-03-31 02:30", None),  # an hour the clocks skip: no such time there
        ("2024-10-27 02:30", None),  # an hour they pass twice: either offset
    ],
)
def test_the_time_zone_gives_the_offset_at_that_date(clock, offset_h):
    local = np.array([wall(clock)])
    utc = zone_utc(local, np.array([PARIS[0]]), np.array([PARIS[1]]))
    assert (None if np.isnan(utc[0]) else (local[0] - utc[0]) / 3600) == offset_h


def test_at_sea_or_without_a_place_no_zone_is_guessed():
    utc = zone_utc(np.array([wall("2024-07-01 12:00")] * 2), np.array([40.0, np.nan]), np.array([-40.0, 2.0]))
    assert np.isnan(utc).all()


def taken(rows: list[dict]) -> list[tuple]:
    out = locate(table(rows), LocateSettings()).table
    return list(
        zip(out.column("taken_at").to_pylist(), out.column("taken_at_source").to_pylist(), strict=True)
    )


def test_a_camera_without_offset_tags_gets_utc_from_where_its_photos_were_taken():
    summer = wall("2024-07-01 12:00") - wall("2017-04-17 12:00")  # row() counts from T0
    winter = wall("2024-01-15 12:00") - wall("2017-04-17 12:00")
    rows = [row(gps=PARIS, local=summer, camera="Canon"), row(gps=PARIS, local=winter, camera="Canon")]
    (at_summer, source), (at_winter, _) = taken(rows)
    assert source == "zone"
    assert at_summer.timestamp() == pytest.approx(wall("2024-07-01 10:00"))
    assert at_winter.timestamp() == pytest.approx(wall("2024-01-15 11:00"))


def test_a_camera_left_on_the_wrong_zone_is_caught_by_its_gps_times():
    # In Paris in summer (UTC+2), the clock still on New York's time (UTC-4): its GPS times say so.
    clock = wall("2024-07-01 06:00") - wall("2017-04-17 12:00")
    utc = wall("2024-07-01 10:00") - wall("2017-04-17 12:00")
    rows = [
        row(gps=PARIS, local=clock, gps_time=utc, camera="Canon"),
        row(gps=PARIS, local=clock + 60, gps_time=utc + 60, camera="Canon"),
        row(local=clock + 30, camera="Canon"),
    ]
    for at, source in taken(rows):
        assert source in ("camera", "gps_time") and at.timestamp() == pytest.approx(
            wall("2024-07-01 10:00"), abs=61
        )
    assert taken(rows)[2][1] == "camera"


def test_a_worked_out_taken_at_is_worked_out_again_not_read_as_the_photos_own():
    summer = wall("2024-07-01 12:00") - wall("2017-04-17 12:00")
    first = locate(table([row(gps=PARIS, local=summer, camera="Canon")]), LocateSettings()).table
    again = table([row(gps=PARIS, local=summer, camera="Canon")])
    again = again.set_column(again.schema.get_field_index("taken_at"), "taken_at", first.column("taken_at"))
    again = again.set_column(
        again.schema.get_field_index("taken_at_source"), "taken_at_source", first.column("taken_at_source")
    )
    assert locate(again, LocateSettings()).table.column("taken_at_source").to_pylist() == ["zone"]
