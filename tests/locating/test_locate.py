from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from landmark_tag.locating.earth import distance_m
from landmark_tag.locating.fixes import Fixes, LocateSettings
from landmark_tag.locating.locate import NOTE_FIXES_DISAGREE, NOTE_SCREENSHOT, locate

NOTE_DISAGREE = "time and landmark disagree"

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
    path="/photos/IMG_0001.jpg",
) -> dict:
    """One output row: times in seconds after T0 (`local` on the camera's own clock)."""
    return {
        "path": path,
        "status": "skipped_gps" if gps else status,
        "gps_latitude": gps[0] if gps else None,
        "gps_longitude": gps[1] if gps else None,
        "estimated_latitude": landmark[0] if landmark else None,
        "estimated_longitude": landmark[1] if landmark else None,
        "taken_at": None if utc is None else round((T0 + utc) * 1e6),
        "taken_at_source": None if utc is None else "exif",
        "taken_local": None if local is None else round((T0 + local) * 1e6),
        "gps_time": None if gps_time is None else round((T0 + gps_time) * 1e6),
        "camera": camera,
    }


def table(rows: list[dict]) -> pa.Table:
    schema = pa.schema(
        [
            ("path", pa.string()),
            ("status", pa.string()),
            ("gps_latitude", pa.float64()),
            ("gps_longitude", pa.float64()),
            ("estimated_latitude", pa.float64()),
            ("estimated_longitude", pa.float64()),
            ("taken_at", pa.timestamp("us", tz="UTC")),
            ("taken_at_source", pa.string()),
            ("taken_local", pa.timestamp("us")),
            ("gps_time", pa.timestamp("us", tz="UTC")),
            ("camera", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def located(rows: list[dict], settings: LocateSettings = SETTINGS) -> list[dict]:
    return locate(table(rows), settings).table.to_pylist()


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
    # The camera's clock runs an hour ahead of UTC; its two GPS photos say so. Its photo without GPS
    # then falls between a phone's fixes in UTC.
    camera = [
        row(gps=(10.0, 10.0), local=-7200 + 3600, gps_time=-7200, camera="camera"),
        row(gps=(10.0, 10.0), local=-7100 + 3600, gps_time=-7100, camera="camera"),
        row(local=300 + 3600, camera="camera"),
    ]
    phone = [row(gps=A, utc=0, camera="phone"), row(gps=B, utc=600, camera="phone")]
    target = located(camera + phone)[2]
    assert target["location_source"] == "time"
    assert target["location_latitude"] == pytest.approx((A[0] + B[0]) / 2)
    # Without the GPS times, nothing ties that clock to UTC: the camera's own fixes, two hours away
    # on its own clock, are too far to say anything.
    camera[0]["gps_time"] = camera[1]["gps_time"] = None
    assert located(camera + phone)[2]["location_source"] is None


def test_one_stale_gps_time_does_not_set_a_cameras_clock():
    # The Canon's one GPS photo carries a GPS time three hours stale: taken as its clock's offset, the
    # next photo would fall among a phone's fixes 22 km away. One photo cannot be cross-checked: the
    # next photo is placed by the camera's own fix, on its own clock.
    canon = [
        row(gps=A, local=0, gps_time=-3 * 3600, camera="Canon"),
        row(local=60, camera="Canon"),
    ]
    far = (A[0] + 0.2, A[1])  # 22 km north
    # Where the stale time would put the next photo (60 s - 3 h in UTC), a phone was 22 km away.
    phone = [row(gps=far, utc=-3 * 3600, camera="phone"), row(gps=far, utc=-3 * 3600 + 120, camera="phone")]
    target = located(canon + phone)[1]
    assert target["location_source"] == "time"
    assert target["location_latitude"] == pytest.approx(A[0])


def test_a_photos_own_offset_wins_over_another_body_of_its_model():
    # Phones write no serial number: a London and a Tokyo iPhone 12 are one "camera". The third photo
    # says +01:00: it was taken ten seconds after the London one, not beside the Tokyo one.
    london, tokyo = (51.5007, -0.1246), (35.6586, 139.7454)
    rows = [
        row(gps=london, local=0, utc=-3600, camera="Apple iPhone 12"),
        row(gps=tokyo, local=5, utc=5 - 9 * 3600, camera="Apple iPhone 12"),
        row(local=10, utc=10 - 3600, camera="Apple iPhone 12"),
    ]
    target = located(rows)[2]
    assert target["location_source"] == "time"
    assert target["location_latitude"] == pytest.approx(london[0])


def test_fixes_at_one_instant_that_contradict_each_other_give_no_location():
    # 300 photos in London and 300 in Paris at 09:00:00 UTC, and 300 without GPS then: a zero time gap
    # must not skip the check that the fixes agree.
    london, paris = (51.5007, -0.1246), (48.8584, 2.2945)
    rows = [row(gps=london, utc=0) for _ in range(300)] + [row(gps=paris, utc=0) for _ in range(300)]
    rows += [row(utc=0) for _ in range(300)]
    found = located(rows)[600:]
    assert {f["location_source"] for f in found} == {None}
    assert {f["location_note"] for f in found} == {NOTE_FIXES_DISAGREE}
    # Two receivers side by side do agree.
    beside = [row(gps=london, utc=0), row(gps=(london[0] + 0.0005, london[1]), utc=0), row(utc=0)]
    assert located(beside)[2]["location_source"] == "time"


def test_longitudes_are_interpolated_across_the_antimeridian():
    rows = [row(gps=(-17.0, 179.995), utc=0), row(gps=(-17.0, -179.995), utc=600), row(utc=300)]
    target = located(rows)[2]
    assert target["location_source"] == "time"
    assert abs(target["location_longitude"]) == pytest.approx(180.0, abs=1e-6)
    assert target["location_radius_m"] < 500


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


# ---------------------------------------------------------------- tracks


def track(points) -> Fixes:
    """(latitude, longitude, seconds after T0 in UTC)."""
    lats, lons, times = (np.array(values, dtype=float) for values in zip(*points, strict=True))
    return Fixes.of(T0 + times, lats, lons)


# A walk north along a track, a point a minute, from noon UTC.
WALK = [(50.0 + i * 0.001, 4.0, 60.0 * i) for i in range(120)]


def test_a_track_is_aligned_with_a_cameras_clock_hours_off_on_its_photos_with_gps():
    # The camera's clock reads two hours ahead of UTC, and nothing in its EXIF says so.
    fixes = [row(gps=WALK[i][:2], local=WALK[i][2] + 7200, camera="camera") for i in (10, 40, 70, 100)]
    target = row(local=WALK[55][2] + 30 + 7200, camera="camera")
    result = locate(table([*fixes, target]), SETTINGS, track(WALK))
    found = result.table.to_pylist()[-1]
    assert found["location_source"] == "track"
    assert found["location_latitude"] == pytest.approx(50.0555, abs=1e-6)
    assert found["location_radius_m"] < 100  # a track point's 50 m, points a minute and 111 m apart
    assert any("-02:00:00 from camera on its clock" in clock for clock in result.clocks)


def test_a_hand_offset_replaces_the_alignment():
    target = row(local=WALK[55][2] + 7200, camera="camera")  # no photo with GPS to align on
    assert locate(table([target]), SETTINGS, track(WALK)).table.to_pylist()[0]["location_source"] is None
    by_hand = LocateSettings(gpx_offset_s=-7200.0)
    found = locate(table([target]), by_hand, track(WALK)).table.to_pylist()[0]
    assert found["location_source"] == "track" and found["location_latitude"] == pytest.approx(50.055)


def test_a_photo_in_utc_falls_on_the_track_without_alignment_and_the_track_wins_over_time():
    rows = [row(gps=(50.03, 4.0), utc=0), row(gps=(50.08, 4.0), utc=7000), row(utc=WALK[50][2])]
    found = locate(table(rows), SETTINGS, track(WALK)).table.to_pylist()[2]
    assert found["location_source"] == "track" and found["location_latitude"] == pytest.approx(50.05)


def test_a_track_outweighs_photos_near_in_time_that_put_it_elsewhere_and_says_so():
    # Someone else's photos, far from the track: the track, recording then, is kept.
    rows = [row(gps=(10.0, 10.0), utc=2990), row(gps=(10.0, 10.0), utc=3010), row(utc=3000)]
    found = locate(table(rows), SETTINGS, track(WALK)).table.to_pylist()[2]
    assert found["location_source"] == "track" and found["location_latitude"] == pytest.approx(50.05)
    assert found["location_note"] == "track and time disagree; the track is kept"
    # A landmark elsewhere still withholds it.
    rows[2].update(status="tagged", estimated_latitude=10.0, estimated_longitude=10.0)
    found = locate(table(rows), SETTINGS, track(WALK)).table.to_pylist()[2]
    assert found["location_source"] is None and found["location_note"] == "track and landmark disagree"


def test_a_camera_with_no_gps_photo_is_placed_on_the_track_by_the_time_zone_that_fits():
    # The walk's camera runs an hour ahead of UTC (a time zone), nothing says so, none of its photos
    # has GPS. Of the whole and half hours near the sun's time there, only +01:00 puts them all on it.
    photos = [row(local=WALK[i][2] + 3600, camera="camera") for i in range(10, 111, 10)]
    result = locate(table(photos), SETTINGS, track(WALK))
    found = result.table.to_pylist()
    assert [f["location_source"] for f in found] == ["track"] * len(photos)
    assert [f["location_latitude"] for f in found] == pytest.approx([WALK[i][0] for i in range(10, 111, 10)])
    # The clock is known to its zone only: the radius holds the track within five minutes of it.
    assert all(500 < f["location_radius_m"] < 700 for f in found)
    assert any("-01:00:00 from camera on its clock, the time zone" in clock for clock in result.clocks)


def test_no_time_zone_is_guessed_when_several_fit_or_none_is_near_the_track():
    all_day = [(50.0 + i * 0.0001, 4.0, 60.0 * i) for i in range(-600, 600)]  # twenty hours
    photos = [row(local=WALK[i][2] + 3600, camera="camera") for i in range(10, 111, 10)]
    assert {
        f["location_source"] for f in locate(table(photos), SETTINGS, track(all_day)).table.to_pylist()
    } == {None}
    # A clock ten hours from the sun's time at the track: no zone there, so no offset.
    far = [row(local=WALK[i][2] + 10 * 3600, camera="camera") for i in range(10, 111, 10)]
    assert {f["location_source"] for f in locate(table(far), SETTINGS, track(WALK)).table.to_pylist()} == {
        None
    }


def test_photos_in_utc_that_agree_with_the_track_keep_its_utc_clock():
    # Their GPS reads 11 m north of the track: searching would shift the track's clock by seconds to
    # fit that noise, and move every photo located on it.
    fixes = [row(gps=(WALK[i][0] + 0.0001, 4.0), utc=WALK[i][2]) for i in (10, 40, 70, 100)]
    result = locate(table([*fixes, row(utc=WALK[55][2])]), SETTINGS, track(WALK))
    assert result.table.to_pylist()[-1]["location_latitude"] == pytest.approx(50.055, abs=1e-7)
    assert any(
        "+00:00:00 from photos without a camera name in UTC, its GPS photos agree" in c for c in result.clocks
    )


# A drive east then a walk north: photos every two minutes in UTC, every other one with GPS.
def _route(i: int) -> tuple[float, float]:
    return (50.0, 4.0 + 0.01 * i) if i < 30 else (50.0 + 0.001 * (i - 30), 4.29)


def _photos() -> tuple[list[dict], list[int]]:
    rows = [row(gps=_route(i) if i % 2 == 0 else None, utc=120.0 * i, camera="camera") for i in range(60)]
    return rows, [i for i in range(60) if i % 2]


def _errors(rows: list[dict], hidden: list[int], track_points=None) -> list[float | None]:
    fixes = track(track_points) if track_points is not None else None
    found = locate(table(rows), SETTINGS, fixes).table.to_pylist()
    errors: list[float | None] = []
    for i in hidden:
        if found[i]["location_source"] is None:
            errors.append(None)
            continue
        lat, lon = _route(i)
        at = (found[i]["location_latitude"], found[i]["location_longitude"])
        errors.append(float(distance_m(np.array(lat), np.array(lon), np.array(at[0]), np.array(at[1]))))
    return errors


def _walk_track(minutes) -> list[tuple[float, float, float]]:
    """Track points every 20 s at the route's place, for the minutes given."""
    points = []
    for second in np.arange(minutes[0] * 60, minutes[-1] * 60 + 1, 20.0):
        i = second / 120.0
        lo, hi = _route(int(np.floor(i))), _route(min(int(np.floor(i)) + 1, 59))
        share = i - np.floor(i)
        points.append((lo[0] + share * (hi[0] - lo[0]), lo[1] + share * (hi[1] - lo[1]), second))
    return points


@pytest.mark.parametrize(
    "recorded",
    [
        [range(60, 119)],  # starts late: at the trailhead, after the drive
        [range(0, 50), range(80, 119)],  # a gap of half an hour
        [range(0, 40)],  # ends early
    ],
    ids=["starts-late", "gap", "ends-early"],
)
def test_adding_a_track_never_loses_a_location_or_adds_error(recorded):
    rows, hidden = _photos()
    alone = _errors(rows, hidden)
    points = [p for minutes in recorded for p in _walk_track(minutes)]
    with_track = _errors(rows, hidden, points)
    assert all(e is not None for e in alone)
    assert [e is not None for e in with_track] == [True] * len(hidden)
    assert all(w <= a + 1.0 for w, a in zip(with_track, alone, strict=True))  # type: ignore[operator]


def test_a_photo_outside_the_recording_is_not_placed_on_the_track():
    points = _walk_track(range(60, 90))
    before, gap, after = row(utc=30 * 60), row(utc=75 * 60), row(utc=100 * 60)
    found = locate(table([before, gap, after]), SETTINGS, track(points)).table.to_pylist()
    assert [f["location_source"] for f in found] == [None, "track", None]
    hole = [p for p in points if not 68 * 60 < p[2] < 83 * 60]  # the logger off for 15 minutes
    found = locate(table([gap]), SETTINGS, track(hole)).table.to_pylist()
    assert found[0]["location_source"] is None


def test_invalid_track_points_are_never_used():
    points = [(50.0, 4.0, 0.0), (200.0, 400.0, 60.0), (0.0, 0.0, 90.0), (50.001, 4.0, 120.0)]
    fixes = track(points)
    assert list(fixes.lat) == [50.0, 50.001]
    found = locate(table([row(utc=60)]), SETTINGS, fixes).table.to_pylist()[0]
    assert found["location_latitude"] == pytest.approx(50.0005)


def test_a_track_across_the_antimeridian():
    points = [(-17.0, 179.999, 0.0), (-17.0, -179.999, 60.0)]
    found = locate(table([row(utc=30)]), SETTINGS, track(points)).table.to_pylist()[0]
    assert found["location_source"] == "track"
    assert abs(found["location_longitude"]) == pytest.approx(180.0, abs=1e-6)


def test_a_gps_photo_the_track_puts_elsewhere_keeps_its_gps_and_says_so():
    rows = [row(gps=(50.0, 4.0), utc=WALK[50][2])]  # the track is 5.5 km north then
    found = locate(table(rows), SETTINGS, track(WALK)).table.to_pylist()[0]
    assert (found["location_source"], found["location_latitude"]) == ("gps", 50.0)
    assert found["location_note"] == "gps and track disagree"


def test_time_zone_alignment_judges_only_the_photos_the_track_can_cover_and_says_when_it_abstains():
    # A drive to the trailhead (photos from 90 to 70 minutes before the track starts), then the walk:
    # the camera runs an hour ahead of UTC, with no GPS photo. The drive's photos, outside the
    # recording, say nothing against the offset.
    drive = [row(local=-5400 + 300.0 * i + 3600, camera="camera") for i in range(5)]
    walk = [row(local=WALK[i][2] + 3600, camera="camera") for i in range(10, 111, 10)]
    result = locate(table(drive + walk), SETTINGS, track(WALK))
    found = result.table.to_pylist()
    assert [f["location_source"] for f in found[len(drive) :]] == ["track"] * len(walk)
    assert {f["location_source"] for f in found[: len(drive)]} == {None}
    # A track recording all day: several zones fit, and the summary says so and what to do.
    all_day = [(50.0 + i * 0.0001, 4.0, 60.0 * i) for i in range(-600, 600)]
    result = locate(table(walk), SETTINGS, track(all_day))
    assert any("no offset from camera on its clock" in c and "--gpx-offset" in c for c in result.clocks)


def test_a_camera_whose_gps_disagrees_with_the_track_gets_a_radius_that_holds_that():
    # The phone's fixes read 40 m east of the tracker's, as on water or in a town: the radius of its
    # photos placed on the track says so (twice the median disagreement).
    east = 40.0 / (111_320.0 * np.cos(np.radians(50.05)))
    fixes = [row(gps=(WALK[i][0], 4.0 + east), utc=WALK[i][2], camera="phone") for i in (10, 40, 70, 100)]
    result = locate(table([*fixes, row(utc=WALK[55][2], camera="phone")]), SETTINGS, track(WALK))
    assert result.table.to_pylist()[-1]["location_radius_m"] == pytest.approx(80.0, abs=1.0)
    assert any("(median 40 m from the track)" in clock for clock in result.clocks)


@pytest.mark.parametrize(
    "name", ["IMG_0003.PNG", "Screenshot_20240501-103000.jpg", "Bildschirmfoto 2024.jpg"]
)
def test_screenshots_are_not_placed_by_time_unless_asked(name):
    rows = [row(gps=A, utc=0), row(gps=B, utc=600), row(utc=300, path=f"/photos/{name}")]
    screenshot = located(rows)[2]
    assert screenshot["location_source"] is None and screenshot["location_note"] == NOTE_SCREENSHOT
    assert located(rows, LocateSettings(locate_screenshots=True))[2]["location_source"] == "time"


def test_a_camera_photo_saved_as_png_is_still_placed_by_time():
    rows = [row(gps=A, utc=0), row(gps=B, utc=600), row(utc=300, camera="Canon EOS 5D", path="/p/a.png")]
    assert located(rows)[2]["location_source"] == "time"


def test_a_location_already_named_keeps_its_names_and_only_new_ones_are_looked_up(monkeypatch):
    from landmark_tag.locating import locate as module

    photos = table(
        [
            row(gps=(48.8584, 2.2945), utc=0, path="/p/a.jpg"),
            row(utc=30, path="/p/b.jpg"),  # between a and c: placed by time
            row(gps=(48.8590, 2.2950), utc=60, path="/p/c.jpg"),
        ]
    )
    first = locate(photos, SETTINGS).table
    assert first.column("place_city").to_pylist() == ["Paris"] * 3
    assert first.column("place_source").null_count == 0
    looked_up = []
    real = module.place_names

    def counting(lat, lon, radius):
        looked_up.append(len(lat))
        return real(lat, lon, radius)

    monkeypatch.setattr(module, "place_names", counting)
    # The next night: the output holds the names; photo c's GPS moved to Lyon.
    held = photos
    for name in first.column_names:
        held = held.append_column(name, first.column(name)) if name not in held.column_names else held
    moved = held.set_column(2, "gps_latitude", pa.array([48.8584, None, 45.7640]))
    moved = moved.set_column(3, "gps_longitude", pa.array([2.2945, None, 4.8357]))
    again = locate(moved, SETTINGS).table
    assert looked_up == [1]  # c only (b between Paris and Lyon a minute apart: no location now)
    assert again.column("place_city").to_pylist()[1] is None
    assert again.column("place_city").to_pylist()[0] == "Paris"
    assert again.column("place_city").to_pylist()[2] == "Lyon"
    # Names from other data (an older version's) are looked up again.
    older = held.set_column(
        held.schema.get_field_index("place_source"), "place_source", pa.array(["old"] * 3)
    )
    locate(older, SETTINGS)
    assert looked_up[-1] == 3
