import os

import pytest

from landmark_tag.files.storage import (
    NotOurs,
    find_files,
    is_local_folder,
    list_folder,
    on_disk,
    read_own_file,
    regular_file_size,
)


def test_a_path_is_on_disk_unless_it_is_a_bucket_url(tmp_path):
    assert on_disk(f"file://{tmp_path}/a.parquet") == f"{tmp_path}/a.parquet"
    assert on_disk("s3://bucket/a.parquet") is None
    assert is_local_folder(str(tmp_path)) and not is_local_folder("s3://bucket/prefix")


def test_files_are_found_sorted_and_a_missing_folder_lists_nothing(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.GPX", "b/1.gpx", "a.gpx", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert find_files(str(tmp_path), ".gpx") == [str(tmp_path / n) for n in ("a.gpx", "b/1.gpx", "b/2.GPX")]
    assert find_files(str(tmp_path / "a.gpx"), ".gpx") == [str(tmp_path / "a.gpx")]
    assert list_folder(str(tmp_path / "nowhere")) == []
    assert sorted(list_folder(str(tmp_path / "b"))) == [str(tmp_path / "b" / n) for n in ("1.gpx", "2.GPX")]


def test_only_regular_writable_files_are_read_as_our_own(tmp_path):
    own = tmp_path / "a.xmp"
    own.write_bytes(b"12345")
    assert read_own_file(str(own), limit=3) == b"1234" and regular_file_size(str(own)) == 5
    assert read_own_file(str(tmp_path / "none.xmp"), limit=3) is None
    (tmp_path / "link.xmp").symlink_to(own)
    os.mkfifo(tmp_path / "pipe.xmp")
    with pytest.raises(NotOurs, match="symbolic link"):
        read_own_file(str(tmp_path / "link.xmp"), limit=3)
    with pytest.raises(NotOurs, match="not a regular file"):
        read_own_file(str(tmp_path / "pipe.xmp"), limit=3)
    with pytest.raises(NotOurs, match="not a regular file"):
        regular_file_size(str(tmp_path / "pipe.xmp"))
