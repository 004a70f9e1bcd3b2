"""When photos were taken, in UTC: from what the photos say, else from the time zone where they were."""

import pandas as pd

from landmark_tag.files.results import read_results
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import capture_exif, gps_exif, save_photo, scene

CANON = {"make": "Canon", "model": "EOS 5D"}  # writes no offset tags and no GPS time
PARIS = (48.8566, 2.3522)


def test_a_camera_without_offset_tags_gets_its_utc_from_the_zone_on_both_sides_of_summer_time(tmp_path):
    root = tmp_path / "photos"
    save_photo(root / "summer.jpg", exif=capture_exif(gps_exif(*PARIS), taken="2024:07:01 12:00:00", **CANON))
    save_photo(root / "winter.jpg", exif=capture_exif(gps_exif(*PARIS), taken="2024:01:15 12:00:00", **CANON))
    save_photo(
        root / "tagged.jpg", scene(seed=2), exif=capture_exif(taken="2024:07:01 12:05:00", offset="+02:00")
    )
    out = tmp_path / "tags.parquet"
    for _ in range(2):  # the second commit works it out again, and gets the same
        scan(ScanConfig([str(root)], str(out), full=True))
        rows = read_results(out).set_index("path")
        summer, winter = rows.loc[str(root / "summer.jpg")], rows.loc[str(root / "winter.jpg")]
        assert summer["taken_at"] == pd.Timestamp("2024-07-01 10:00", tz="UTC")
        assert winter["taken_at"] == pd.Timestamp("2024-01-15 11:00", tz="UTC")
        assert summer["taken_at_source"] == winter["taken_at_source"] == "zone"
        assert pd.isna(summer["taken_offset"])  # what the EXIF says, and it says none
        assert rows.loc[str(root / "tagged.jpg"), "taken_at_source"] == "exif"
