"""Without a landmark model, a scan still locates photos by GPS, tracks and time; a later scan with
a model looks at the photos the first one could not."""

import logging

import pandas as pd
import pytest

from landmark_tag.errors import ConfigError
from landmark_tag.files.results import read_results
from landmark_tag.pipeline.engines.base import LANDMARKS_OFF_DEVICE
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import capture_exif, gps_exif, save_photo, scene

CAMERA = {"make": "Canon", "model": "EOS 5D"}


@pytest.fixture
def walk(tmp_path):
    """Two photos with GPS a minute apart and one between them without, on one camera; a photo of
    no time, and a broken file."""
    root = tmp_path / "walk"
    save_photo(
        root / "a.jpg", exif=capture_exif(gps_exif(48.8584, 2.2945), taken="2024:05:01 10:00:00", **CAMERA)
    )
    save_photo(root / "b.jpg", scene(seed=3), exif=capture_exif(taken="2024:05:01 10:00:30", **CAMERA))
    save_photo(
        root / "c.jpg", exif=capture_exif(gps_exif(48.8590, 2.2950), taken="2024:05:01 10:01:00", **CAMERA)
    )
    save_photo(root / "d.png", scene(seed=4))
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a photo")
    return root


def test_without_a_model_photos_are_located_and_the_rest_marked_landmarks_off(tmp_path, walk, caplog):
    out = tmp_path / "tags.parquet"
    with caplog.at_level(logging.WARNING):
        summary = scan(ScanConfig([str(walk)], str(out)))
    assert "landmarks are off: there is no landmark model" in caplog.text
    rows = read_results(out).set_index("path")
    status = {path.rsplit("/", 1)[-1]: value for path, value in rows["status"].items()}
    assert status == {
        "a.jpg": "skipped_gps",
        "b.jpg": "landmarks_off",
        "c.jpg": "skipped_gps",
        "d.png": "landmarks_off",
        "broken.jpg": "failed",
    }
    between = rows.loc[str(walk / "b.jpg")]
    assert between["location_source"] == "time" and pd.isna(between["landmark_1"])
    assert pd.isna(rows.loc[str(walk / "d.png"), "location_source"])
    assert (summary.model, summary.device, summary.min_confidence) == ("", LANDMARKS_OFF_DEVICE, None)
    assert summary.counts["landmarks_off"] == 2 and summary.locations == {"gps": 2, "time": 1}


def test_a_later_scan_with_a_model_looks_at_what_no_model_did(tmp_path, walk, tiny_model, caplog):
    out = tmp_path / "tags.parquet"
    scan(ScanConfig([str(walk)], str(out)))
    with_model = scan(ScanConfig([str(walk)], str(out), model=str(tiny_model)))
    assert (with_model.retried, with_model.processed) == (3, 3)  # the two no model saw, and the broken one
    rows = read_results(out).set_index("path")
    assert "landmarks_off" not in set(rows["status"])
    assert pd.notna(rows.loc[str(walk / "b.jpg"), "landmark_1"])
    caplog.clear()
    without = scan(ScanConfig([str(walk)], str(out), landmarks=False))  # the model's rows are kept
    assert (without.processed, without.unchanged) == (1, 4)  # only the broken photo, tried again
    assert "another model" not in caplog.text
    assert pd.notna(read_results(out).set_index("path").loc[str(walk / "b.jpg"), "landmark_1"])


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"landmarks": False, "model": "model.pt"}, "landmarks are off (--no-landmarks)"),
        ({"min_confidence": 0.5}, "--min-confidence apply to a landmark model"),
        ({"landmarks": False, "min_landmark_score": 0.1}, "--min-landmark-score apply to a landmark model"),
    ],
)
def test_options_for_a_model_are_refused_without_one(tmp_path, walk, options, said):
    with pytest.raises(ConfigError, match=said.replace("(", r"\(").replace(")", r"\)")):
        scan(ScanConfig([str(walk)], str(tmp_path / "tags.parquet"), **options))
    assert not (tmp_path / "tags.parquet").exists()


def test_without_a_model_no_photo_is_decoded(tmp_path, walk, monkeypatch):
    from landmark_tag.pipeline.execute import decode

    def refuse(*args, **kwargs):
        raise AssertionError("a photo was decoded without a model")

    monkeypatch.setattr(decode.PhotoDecoder, "pixels", refuse)
    summary = scan(ScanConfig([str(walk)], str(tmp_path / "tags.parquet"), workers=0))
    assert summary.counts["landmarks_off"] == 2


def test_without_a_model_a_photo_located_by_time_gets_its_sidecar(tmp_path, walk):
    scan(ScanConfig([str(walk)], str(tmp_path / "tags.parquet"), write_xmp=True))
    sidecar = (walk / "b.jpg.xmp").read_text()
    assert "landmark-tag: time" in sidecar and "GPSLatitude" in sidecar
    assert "<Iptc4xmpCore:CountryCode>FR</Iptc4xmpCore:CountryCode>" in sidecar  # where it lies
    assert "<photoshop:Country>France</photoshop:Country>" in sidecar
    assert not (walk / "d.png.xmp").exists()  # not located: nothing to say


def test_a_screenshot_taken_on_a_trip_is_not_placed_by_its_time(tmp_path):
    # A phone: offset tags on every picture, so all are in UTC; the screenshot names no camera.
    trip, phone = tmp_path / "trip", {"make": "Apple", "model": "iPhone 12", "offset": "+02:00"}
    save_photo(
        trip / "a.jpg", exif=capture_exif(gps_exif(48.8584, 2.2945), taken="2024:05:01 10:00:00", **phone)
    )
    save_photo(
        trip / "c.jpg", exif=capture_exif(gps_exif(48.8590, 2.2950), taken="2024:05:01 10:01:00", **phone)
    )
    save_photo(trip / "b.jpg", scene(seed=6), exif=capture_exif(taken="2024:05:01 10:00:40", **phone))
    shot = save_photo(
        trip / "IMG_0042.PNG", scene(seed=5), exif=capture_exif(taken="2024:05:01 10:00:40", offset="+02:00")
    )
    out = tmp_path / "tags.parquet"
    scan(ScanConfig([str(trip)], str(out)))
    rows = read_results(out).set_index("path")
    assert (
        pd.isna(rows.loc[str(shot), "location_source"])
        and "a screenshot" in rows.loc[str(shot), "location_note"]
    )
    assert rows.loc[str(trip / "b.jpg"), "location_source"] == "time"
    scan(ScanConfig([str(trip)], str(out), locate_screenshots=True))
    assert read_results(out).set_index("path").loc[str(shot), "location_source"] == "time"
    scan(ScanConfig([str(trip)], str(out)))  # nothing new, but the screenshot is taken out again
    assert pd.isna(read_results(out).set_index("path").loc[str(shot), "location_source"])


def test_named_places_name_located_photos_in_the_output_and_their_sidecars(tmp_path, walk):
    places = tmp_path / "places.csv"
    places.write_text("name,latitude,longitude,radius_m\nThe tower,48.8587,2.2947,300\n", encoding="utf-8")
    out = tmp_path / "tags.parquet"
    scan(ScanConfig([str(walk)], str(out), places=str(places), write_xmp=True))
    rows = read_results(out).set_index("path")
    named = {path.rsplit("/", 1)[-1]: value for path, value in rows["named_place"].dropna().items()}
    assert named == {"a.jpg": "The tower", "b.jpg": "The tower", "c.jpg": "The tower"}
    # Own GPS or located by time: the sidecar names the place (a photo manager's Location).
    for name in ("a.jpg", "b.jpg"):
        assert "<Iptc4xmpCore:Location>The tower<" in (walk / f"{name}.xmp").read_text()
    # A name set by hand wins; a later run with the place gone takes out only what was ours.
    hand = walk / "c.jpg.xmp"
    edited = "<Iptc4xmpCore:Location>Under the tower</Iptc4xmpCore:Location>"
    hand.write_text(
        hand.read_text().replace("<Iptc4xmpCore:Location>The tower</Iptc4xmpCore:Location>", edited)
    )
    places.write_text("name,latitude,longitude,radius_m\nElsewhere,40.0,-3.0,300\n", encoding="utf-8")
    scan(ScanConfig([str(walk)], str(out), places=str(places), write_xmp=True))
    assert read_results(out)["named_place"].isna().all()
    assert edited in hand.read_text()
    assert "The tower" not in (walk / "b.jpg.xmp").read_text()


def test_a_bad_places_file_stops_the_scan_before_any_photo_is_read(tmp_path, walk):
    places = tmp_path / "places.csv"
    places.write_text("name,latitude,longitude\nHome,48.85,2.29\n", encoding="utf-8")
    out = tmp_path / "tags.parquet"
    with pytest.raises(ConfigError, match="no column radius_m"):
        scan(ScanConfig([str(walk)], str(out), places=str(places)))
    assert not out.exists() and not (tmp_path / "tags.parquet.parts").exists()
