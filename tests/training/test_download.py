import io
import zipfile

import pytest

from landmark_tag.training.download import DownloadError, download_dataset
from tests.zip_server import DATASET, ZipServer, make_zip


def test_download_extracts_and_second_run_does_nothing(tmp_path):
    progress = []
    with ZipServer(DATASET) as server:
        root = download_dataset(
            tmp_path, server.url, progress=lambda done, total: progress.append((done, total))
        )
        assert root == tmp_path / "landmark_images"
        assert (root / "train" / "00.Haleakala_National_Park" / "a.jpg").read_bytes() == b"A" * 50_000
        assert (root / "test").is_dir()
        assert progress[-1] == (len(DATASET), len(DATASET))
        assert not list(tmp_path.glob("*.part"))
        assert download_dataset(tmp_path, server.url) == root
        assert len(server.requests) == 1


def test_interrupted_download_resumes_with_range(tmp_path):
    with ZipServer(DATASET, cut_first_at=60_000) as server:
        with pytest.raises(DownloadError, match="run again to resume"):
            download_dataset(tmp_path, server.url)
        assert (tmp_path / "landmark_images.zip.part").stat().st_size == 60_000
        root = download_dataset(tmp_path, server.url)
        assert server.requests == [None, "bytes=60000-"]
    assert (root / "train" / "01.Mount_Rainier_National_Park" / "b.jpg").read_bytes() == b"B" * 50_000


def test_corrupt_archive_is_refused_and_removed(tmp_path):
    corrupt = bytearray(DATASET)
    corrupt[200:210] = b"XXXXXXXXXX"  # inside the first member's data: its CRC no longer matches
    with ZipServer(bytes(corrupt)) as server, pytest.raises(DownloadError, match="corrupt"):
        download_dataset(tmp_path, server.url)
    assert not (tmp_path / "landmark_images").exists()
    assert not list(tmp_path.glob("*.part"))


def test_not_a_zip(tmp_path):
    with (
        ZipServer(b"<html>not found</html>") as server,
        pytest.raises(DownloadError, match="not a complete zip"),
    ):
        download_dataset(tmp_path, server.url)


@pytest.mark.parametrize(
    "evil", ["../escaped.txt", "landmark_images/../../escaped.txt", "/tmp/abs_escape.txt"]
)
def test_zip_slip_member_is_refused(tmp_path, evil):
    payload = make_zip({"landmark_images/train/00.A/ok.jpg": b"ok", evil: b"pwned"})
    dest = tmp_path / "dest"
    with ZipServer(payload) as server, pytest.raises(DownloadError, match="refusing to extract"):
        download_dataset(dest, server.url)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (dest / "landmark_images").exists()  # nothing at all is extracted


def test_unreachable_server(tmp_path):
    with pytest.raises(DownloadError, match="cannot reach"):
        download_dataset(tmp_path, "http://127.0.0.1:9/landmark_images.zip", timeout=2)


def test_existing_data_in_the_destination_is_never_replaced(tmp_path):
    taxes = tmp_path / "landmark_images" / "taxes" / "2025.txt"
    taxes.parent.mkdir(parents=True)
    taxes.write_text("keep me")
    with ZipServer(DATASET) as server, pytest.raises(DownloadError, match="already exists and was not made"):
        download_dataset(tmp_path, server.url)
    assert taxes.read_text() == "keep me" and not (tmp_path / "landmark_images" / "train").exists()
    # Moved away, the same command finishes (the archive downloaded before is reused).
    taxes.parent.parent.rename(tmp_path / "mine")
    with ZipServer(DATASET) as server:
        assert download_dataset(tmp_path, server.url) == tmp_path / "landmark_images"
    assert (tmp_path / "mine" / "taxes" / "2025.txt").read_text() == "keep me"


def test_a_rerun_replaces_what_an_interrupted_extraction_left(tmp_path):
    # An earlier run recorded its names, moved part of the tree, and was killed before the marker.
    partial = tmp_path / "landmark_images" / "train" / "00.Haleakala_National_Park" / "old.jpg"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half")
    (tmp_path / ".landmark-tag-extracted").write_text("landmark_images\n")
    with ZipServer(DATASET) as server:
        root = download_dataset(tmp_path, server.url)
    assert not partial.exists() and (root / "train" / "00.Haleakala_National_Park" / "a.jpg").exists()
    assert not (tmp_path / ".landmark-tag-extracted").exists()


def test_a_resume_answered_from_another_offset_starts_over(tmp_path):
    (tmp_path / "landmark_images.zip.part").write_bytes(DATASET[:60_000])
    with ZipServer(DATASET, range_start=1_000) as server:
        root = download_dataset(tmp_path, server.url)
        assert server.requests == ["bytes=60000-", None]  # the mismatched answer was dropped
    assert (root / "train" / "00.Haleakala_National_Park" / "a.jpg").read_bytes() == b"A" * 50_000


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("landmark_images/train/00.A/a.jpg", b"\0" * (8 << 20))  # 8 MiB in ~8 kB
    with ZipServer(buffer.getvalue()) as server, pytest.raises(DownloadError, match="would unpack to"):
        download_dataset(tmp_path, server.url)
    assert not list(tmp_path.iterdir())  # nothing extracted, and the archive is gone
