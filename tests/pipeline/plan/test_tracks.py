import logging

import pytest

from landmark_tag.pipeline.plan.tracks import TrackNotFoundError, read_tracks
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
