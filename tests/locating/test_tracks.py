import logging

import pytest

from landmark_tag.locating.tracks import TrackNotFoundError, read_tracks
from tests.helpers import NOON, write_gpx


def test_points_are_sorted_by_time_and_times_without_a_zone_are_utc(tmp_path):
    write_gpx(tmp_path / "walk.gpx", [(50.1, 4.1, 300), (50.0, 4.0, 0), (50.2, 4.2, 600)], naive=True)
    track = read_tracks([str(tmp_path / "walk.gpx")])
    assert list(track.lat) == [50.0, 50.1, 50.2]
    assert track.times[0] == NOON.timestamp()


def test_a_folder_gives_every_gpx_in_it_and_a_broken_one_is_reported_and_left_out(tmp_path, caplog):
    write_gpx(tmp_path / "tracks" / "a.gpx", [(50.0, 4.0, 0)])
    write_gpx(tmp_path / "tracks" / "day2" / "b.GPX", [(51.0, 5.0, 86400)])
    (tmp_path / "tracks" / "broken.gpx").write_text("<gpx><trk>")
    (tmp_path / "tracks" / "notes.txt").write_text("not a track")
    with caplog.at_level(logging.WARNING):
        track = read_tracks([str(tmp_path / "tracks")])
    assert len(track) == 2
    assert "broken.gpx: cannot read this GPS track" in caplog.text


def test_a_missing_track_is_refused(tmp_path):
    with pytest.raises(TrackNotFoundError, match="--gpx"):
        read_tracks([str(tmp_path / "nowhere.gpx")])


def test_only_regular_files_are_read_and_a_large_one_is_refused_with_a_word(tmp_path, caplog, monkeypatch):
    import os

    from landmark_tag.locating import tracks

    folder = tmp_path / "tracks"
    write_gpx(folder / "walk.gpx", [(50.0, 4.0, 0), (50.1, 4.1, 60)])
    os.mkfifo(folder / "pipe.gpx")  # reading it would block the scan forever
    (folder / "zero.gpx").symlink_to("/dev/zero")  # reading it would never end
    with caplog.at_level(logging.WARNING):
        track = read_tracks([str(folder)])
    assert len(track) == 2
    assert "pipe.gpx: not read as a GPS track (not a regular file)" in caplog.text
    assert "zero.gpx: not read as a GPS track (not a regular file)" in caplog.text
    monkeypatch.setattr(tracks, "ANNOUNCE_TRACK_BYTES", 100)  # a large one is announced before it is read
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert len(read_tracks([str(folder / "walk.gpx")])) == 2
    assert "walk.gpx: reading a 0 MB GPS track" in caplog.text
    monkeypatch.setattr(tracks, "MAX_TRACK_BYTES", 100)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert read_tracks([str(folder / "walk.gpx")]) is None
    assert "a track may have; split it" in caplog.text


def test_utf16_files_route_points_and_waypoints_are_read(tmp_path):
    import gpxpy.gpx

    from tests.helpers import NOON

    gpx = gpxpy.gpx.GPX()
    route = gpxpy.gpx.GPXRoute()
    route.points.append(gpxpy.gpx.GPXRoutePoint(50.0, 4.0, time=NOON))
    gpx.routes.append(route)
    gpx.waypoints.append(gpxpy.gpx.GPXWaypoint(50.1, 4.1, time=NOON.replace(minute=5)))
    gpx.waypoints.append(gpxpy.gpx.GPXWaypoint(50.2, 4.2))  # no time: no use
    text = gpx.to_xml().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    (tmp_path / "utf16.gpx").write_bytes(text.encode("utf-16"))
    track = read_tracks([str(tmp_path / "utf16.gpx")])
    assert list(track.lat) == [50.0, 50.1]


def test_points_that_are_not_places_are_left_out_and_counted(tmp_path, caplog):
    write_gpx(tmp_path / "bad.gpx", [(50.0, 4.0, 0), (200.0, 400.0, 30), (0.0, 0.0, 45), (50.1, 4.1, 60)])
    with caplog.at_level(logging.WARNING):
        track = read_tracks([str(tmp_path / "bad.gpx")])
    assert list(track.lat) == [50.0, 50.1]
    assert "2 of its 4 points are not places" in caplog.text
