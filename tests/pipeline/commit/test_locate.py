from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from landmark_tag.pipeline.commit.locate import (
    NOTE_DISAGREE,
    NOTE_FIXES_DISAGREE,
    LocateSettings,
    distance_m,
    locate,
)

SETTINGS = LocateSettings()
T0 = datetime(2017, 4, 17, 12, 0, tzinfo=timezone.utc).timestamp()  # noon UTC


def row(
    *,
    gps=None,
    utc=None,
    local=None,
    gps_time=None,
    camera=None,
    status="no_landmark",
    landmark=None,
) -> dict:
    """One output row: times in seconds after T0 (`local` on the camera's own clock)."""
    return {
        "status": "skipped_gps" if gps else status,
        "gps_latitude": gps[0] if gps else None,
        "gps_longitude": gps[1] if gps else None,
        "estimated_latitude": landmark[0] if landmark else None,
        "estimated_longitude": landmark[1] if landmark else None,
        "taken_at": None if utc is None else round((T0 + utc) * 1e6),
        "taken_local": None if local is None else round((T0 + local) * 1e6),
        "gps_time": None if gps_time is None else round((T0 + gps_time) * 1e6),
        "camera": camera,
    }


def table(rows: list[dict]) -> pa.Table:
    schema = pa.schema(
        [
            ("status", pa.string()),
            ("gps_latitude", pa.float64()),
            ("gps_longitude", pa.float64()),
            ("estimated_latitude", pa.float64()),
            ("estimated_longitude", pa.float64()),
            ("taken_at", pa.timestamp("us", tz="UTC")),
            ("taken_local", pa.timestamp("us")),
            ("gps_time", pa.timestamp("us", tz="UTC")),
            ("camera", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def located(rows: list[dict], settings: LocateSettings = SETTINGS) -> list[dict]:
    return locate(table(rows), settings).to_pylist()


A, B = (50.8800, 4.3200), (50.8900, 4.3200)  # 1.1 km apart, north-south


def test_own_gps_is_the_location():
    (only,) = located([row(gps=A, utc=0, camera="phone")])
    assert (only["location_latitude"], only["location_source"]) == (A[0], "gps")
    assert only["location_radius_m"] == SETTINGS.fix_radius_m


def test_a_photo_between_two_fixes_in_utc_is_interpolated_and_its_radius_grows_with_the_gap():
    rows = [row(gps=A, utc=0), row(gps=B, utc=600), row(utc=150, camera="camera")]
    target = located(rows)[2]
    assert target["location_source"] == "time"
    assert target["location_latitude"] == pytest.approx(A[0] + 0.25 * (B[0] - A[0]))
    between = float(distance_m(np.array(A[0]), np.array(A[1]), np.array(B[0]), np.array(B[1])))
    expected = SETTINGS.fix_radius_m + SETTINGS.stray_m_per_s * 150 + SETTINGS.spread_share * between
    assert target["location_radius_m"] == pytest.approx(expected, abs=0.1)


def test_a_cameras_own_photos_need_no_utc():
    # A drone: no offset tag, no GPS time; its own fixes locate its photos on its own clock.
    rows = [
        row(gps=A, local=0, camera="drone"),
        row(gps=B, local=20, camera="drone"),
        row(local=10, camera="drone"),
    ]
    target = located(rows)[2]
    assert target["location_source"] == "time"
    assert target["location_latitude"] == pytest.approx((A[0] + B[0]) / 2)


def test_a_cameras_offset_is_learned_from_its_photos_with_gps_time():
    # The camera's clock runs an hour ahead of UTC; its one GPS photo says so. Its photo without GPS
    # then falls between a phone's fixes in UTC.
    camera = [
        row(gps=(10.0, 10.0), local=-7200 + 3600, gps_time=-7200, camera="camera"),
        row(local=300 + 3600, camera="camera"),
    ]
    phone = [row(gps=A, utc=0, camera="phone"), row(gps=B, utc=600, camera="phone")]
    target = located(camera + phone)[1]
    assert target["location_source"] == "time"
    assert target["location_latitude"] == pytest.approx((A[0] + B[0]) / 2)
    # Without the GPS time, nothing ties that clock to UTC: the camera's own fix, two hours away on
    # its own clock, is too far to say anything.
    camera[0]["gps_time"] = None
    assert located(camera + phone)[1]["location_source"] is None


def test_a_fix_with_only_gps_time_is_a_utc_fix():
    rows = [row(gps=A, gps_time=0), row(gps=B, gps_time=600), row(utc=300)]
    assert located(rows)[2]["location_latitude"] == pytest.approx((A[0] + B[0]) / 2)


def test_a_clock_that_cannot_be_trusted_locates_nothing():
    # The camera's clock without an offset tag, and no photo of it with GPS time: not UTC.
    rows = [row(gps=A, utc=0), row(gps=B, utc=600), row(local=300, camera="camera")]
    assert located(rows)[2]["location_source"] is None
    # Offsets learned from its photos that disagree by minutes: a clock set by hand mid-trip.
    camera = [
        row(gps=(10.0, 10.0), local=-7000, gps_time=-7000 - 3600, camera="camera"),
        row(gps=(10.0, 10.0), local=-6000, gps_time=-6000 - 3000, camera="camera"),
        row(local=300 + 3600, camera="camera"),
    ]
    assert located(rows[:2] + camera)[4]["location_source"] is None


def test_long_gaps_give_large_radii_and_beyond_the_limit_none():
    near = located([row(gps=A, utc=0), row(utc=60)])[1]
    far = located([row(gps=A, utc=0), row(utc=3 * 3600)])[1]
    assert near["location_source"] == "time" and near["location_radius_m"] == pytest.approx(50.0)
    assert far["location_source"] is None


def test_fixes_that_imply_an_impossible_trip_disagree():
    rows = [row(gps=A, utc=0), row(gps=(48.85, 2.35), utc=60), row(utc=30)]  # Brussels, Paris
    target = located(rows)[2]
    assert target["location_source"] is None and target["location_note"] == NOTE_FIXES_DISAGREE


def test_time_wins_over_the_landmark_and_both_must_agree():
    rows = [row(gps=A, utc=0), row(gps=B, utc=600), row(utc=300, status="tagged", landmark=A)]
    assert located(rows)[2]["location_source"] == "time"
    rows[2]["estimated_latitude"], rows[2]["estimated_longitude"] = 48.8584, 2.2945  # Paris
    target = located(rows)[2]
    assert target["location_source"] is None and target["location_note"] == NOTE_DISAGREE


def test_a_tagged_landmark_without_time_neighbours_gives_its_place():
    target = located([row(status="tagged", landmark=B)])[0]
    assert (target["location_source"], target["location_radius_m"]) == (
        "landmark",
        SETTINGS.landmark_radius_m,
    )
    assert located([row(status="uncertain", landmark=B)])[0]["location_source"] is None
