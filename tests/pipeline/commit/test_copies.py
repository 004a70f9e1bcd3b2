"""Copies at commit, through whole scans: found among the night's new photos only, kept on later
nights while their original is there, and never made of another picture."""

import pandas as pd
import pytest

from landmark_tag.files.results import read_results
from landmark_tag.pipeline.commit import copies as copy_pass
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import capture_exif, gps_exif, save_photo, shapes

BRUSSELS = (50.8467, 4.3525)


def save_original(path, seed, where=BRUSSELS):
    exif = capture_exif(gps_exif(*where), taken="2024:05:01 10:00:00", make="Canon", model="EOS")
    return save_photo(path, shapes((1600, 1200), seed), exif=exif, quality=92)


def by_name(out) -> pd.DataFrame:
    rows = read_results(out)
    return rows.set_index(rows["path"].map(lambda p: p.rsplit("/", 1)[-1]))


@pytest.fixture
def compared(monkeypatch):
    """The photos the copy pass compares by their hashes, night by night (their rows' count)."""
    seen: list[int] = []
    real = copy_pass.near_pairs

    def counting(copies, originals, *args):
        seen.append(len(copies))
        return real(copies, originals, *args)

    monkeypatch.setattr(copy_pass, "near_pairs", counting)
    return seen


def test_copies_get_their_originals_location_and_other_pictures_none(tmp_path):
    root, out = tmp_path / "photos", tmp_path / "tags.parquet"
    original = save_original(root / "IMG_0001.jpg", seed=1)
    picture = shapes((1600, 1200), seed=1)
    save_photo(root / "sent" / "resized.jpg", picture.resize((800, 600)), quality=70)
    save_photo(
        root / "sent" / "cut.webp", picture.crop((120, 40, 1540, 1150)).resize((1024, 800)), quality=75
    )
    save_photo(root / "other.jpg", shapes((1600, 1200), seed=2))
    moved = shapes((1600, 1200), seed=1)  # the same scene, something in it changed: not a copy
    moved.paste((250, 30, 30), (300, 200, 900, 700))
    save_photo(root / "next-frame.jpg", moved)
    summary = scan(ScanConfig([str(root)], str(out)))
    rows = by_name(out)
    for name in ("resized.jpg", "cut.webp"):
        assert rows.loc[name, "location_source"] == "copy"
        assert rows.loc[name, "copy_of"] == str(original)
        assert rows.loc[name, "location_latitude"] == pytest.approx(BRUSSELS[0], abs=1e-6)
        assert rows.loc[name, "location_radius_m"] >= rows.loc["IMG_0001.jpg", "location_radius_m"]
        assert rows.loc[name, "taken_at_source"] == "copy"
    for name in ("other.jpg", "next-frame.jpg"):
        assert pd.isna(rows.loc[name, "location_source"]) and pd.isna(rows.loc[name, "copy_of"])
    assert summary.locations == {"gps": 1, "copy": 2}
    assert rows["picture_hashes"].notna().all()


def test_a_night_compares_only_its_new_photos_and_keeps_what_earlier_nights_found(tmp_path, compared):
    root, out = tmp_path / "photos", tmp_path / "tags.parquet"
    save_original(root / "a.jpg", seed=1)
    save_photo(root / "a-copy.jpg", shapes((1600, 1200), seed=1).resize((640, 480)))
    save_photo(
        root / "b-copy.jpg", shapes((1600, 1200), seed=4).resize((640, 480))
    )  # its original comes later
    scan(ScanConfig([str(root)], str(out)))
    assert by_name(out).loc["a-copy.jpg", "location_source"] == "copy"
    assert pd.isna(by_name(out).loc["b-copy.jpg", "location_source"])
    compared.clear()
    save_original(root / "b.jpg", seed=4, where=(48.8584, 2.2945))
    save_photo(root / "c.jpg", shapes((1600, 1200), seed=9))  # a new photo, no one's copy
    scan(ScanConfig([str(root)], str(out)))
    rows = by_name(out)
    assert rows.loc["a-copy.jpg", "location_source"] == "copy"  # kept, not compared again
    assert rows.loc["b-copy.jpg", "location_source"] == "copy"  # its original arrived tonight
    assert rows.loc["b-copy.jpg", "location_latitude"] == pytest.approx(48.8584, abs=1e-6)
    # the new photo without GPS against every possible original; the one earlier photo still
    # without an original against tonight's new possible original
    assert compared == [1, 1]


def test_without_copies_no_hashes_are_taken_and_earlier_copies_stay(tmp_path):
    root, out = tmp_path / "photos", tmp_path / "tags.parquet"
    save_original(root / "a.jpg", seed=1)
    save_photo(root / "a-copy.jpg", shapes((1600, 1200), seed=1).resize((640, 480)))
    scan(ScanConfig([str(root)], str(out)))
    save_photo(root / "d.jpg", shapes((1600, 1200), seed=5))
    scan(ScanConfig([str(root)], str(out), copies=False))
    rows = by_name(out)
    assert rows.loc["a-copy.jpg", "location_source"] == "copy"
    assert pd.isna(rows.loc["d.jpg", "picture_hashes"])


def test_an_original_that_is_gone_takes_its_copys_location_with_it(tmp_path):
    root, out = tmp_path / "photos", tmp_path / "tags.parquet"
    original = save_original(root / "a.jpg", seed=1)
    save_photo(root / "a-copy.jpg", shapes((1600, 1200), seed=1).resize((640, 480)))
    scan(ScanConfig([str(root)], str(out)))
    original.unlink()
    summary = scan(ScanConfig([str(root)], str(out), prune=True))
    rows = by_name(out)
    assert pd.isna(rows.loc["a-copy.jpg", "location_source"]) and pd.isna(rows.loc["a-copy.jpg", "copy_of"])
    assert summary.locations_withdrawn == 1


def test_photos_read_again_unchanged_are_not_compared_again(tmp_path, compared):
    root, out = tmp_path / "photos", tmp_path / "tags.parquet"
    save_original(root / "a.jpg", seed=1)
    save_photo(root / "a-copy.jpg", shapes((1600, 1200), seed=1).resize((640, 480)))
    scan(ScanConfig([str(root)], str(out)))
    compared.clear()
    scan(ScanConfig([str(root)], str(out), full=True))  # every photo read again, none changed
    assert compared == []
    assert by_name(out).loc["a-copy.jpg", "copy_of"] == str(root / "a.jpg")
    # An original whose picture changed is compared again: its copy is no longer one.
    save_original(root / "a.jpg", seed=6)
    scan(ScanConfig([str(root)], str(out)))
    assert pd.isna(by_name(out).loc["a-copy.jpg", "copy_of"])


def test_a_copys_sidecar_says_where_its_location_comes_from(tmp_path):
    root, out = tmp_path / "photos", tmp_path / "tags.parquet"
    save_original(root / "a.jpg", seed=1)
    save_photo(root / "a-copy.jpg", shapes((1600, 1200), seed=1).resize((640, 480)))
    scan(ScanConfig([str(root)], str(out), write_xmp=True))
    sidecar = (tmp_path / "photos" / "a-copy.jpg.xmp").read_text()
    assert "landmark-tag: copy, within 20 m" in sidecar
    assert "Brussels" in sidecar and "50,50.8" in sidecar  # the original's place: GPSLatitude 50,50.8N
