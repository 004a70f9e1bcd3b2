import logging
import os
import warnings

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from landmark_tag.files.discover import PhotoFile, discover_photos
from landmark_tag.files.images import describe_os_error
from landmark_tag.files.reads import HEAD_BYTES
from landmark_tag.locating.copies import mean_view_bits, parse_hashes
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.execute.batch import collate_photos
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from landmark_tag.pipeline.execute.examine import Examiner
from tests.helpers import exif_with_thumbnail, gps_exif, jpeg_bytes, save_photo, scene, shapes

DECODER = PhotoDecoder(Preprocessing(input_size=64, resize_size=72))


def photo_file(path) -> PhotoFile:
    st = os.stat(path)
    return PhotoFile(str(path), st.st_size, st.st_mtime)


def test_located_photo_is_not_decoded(tmp_path):
    path = save_photo(tmp_path / "a.jpg", exif=gps_exif(27.1751, 78.0421))
    item = Examiner(DECODER)(photo_file(path))
    assert item.gps.latitude == pytest.approx(27.1751, abs=1e-5)
    assert not item.decoded and item.error is None


def test_include_gps_decodes_and_keeps_coordinates(tmp_path):
    path = save_photo(tmp_path / "a.jpg", exif=gps_exif(27.1751, 78.0421))
    item = Examiner(DECODER, include_gps=True)(photo_file(path))
    assert item.decoded and item.gps is not None
    assert item.pixels.shape == (3, 64, 64)


def test_webp_gps_found_through_pillow(tmp_path):
    path = save_photo(tmp_path / "a.webp", exif=gps_exif(-13.1631, -72.545))
    item = Examiner(DECODER)(photo_file(path))
    assert item.gps is not None and not item.decoded


def test_bad_inputs_become_errors(tmp_path):
    good = jpeg_bytes(scene((400, 300)), quality=90)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    (tmp_path / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (tmp_path / "random.jpg").write_bytes(os.urandom(2048))
    expectations = {
        "empty.jpg": "empty file",
        "text.png": "not a recognised image",
        "truncated.jpg": "truncated",
        "random.jpg": "not a recognised image",
    }
    for name, message in expectations.items():
        item = Examiner(DECODER)(photo_file(tmp_path / name))
        assert not item.decoded, name
        assert message in item.error, (name, item.error)


def test_vanished_file(tmp_path):
    path = save_photo(tmp_path / "a.jpg")
    photo = photo_file(path)
    path.unlink()
    assert "file not found" in Examiner(DECODER)(photo).error


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file(tmp_path):
    path = save_photo(tmp_path / "a.jpg")
    path.chmod(0)
    assert Examiner(DECODER)(photo_file(path)).error == "permission denied"


def test_permission_error_message():
    assert describe_os_error(PermissionError(13, "Permission denied")) == "permission denied"


def test_collate_keeps_order_and_stacks_only_decoded(tmp_path):
    save_photo(tmp_path / "1.jpg")
    (tmp_path / "2.jpg").write_bytes(b"")
    save_photo(tmp_path / "3.jpg", exif=gps_exif(1.0, 1.0))
    save_photo(tmp_path / "4.jpg", scene(seed=4))
    items = [Examiner(DECODER)(p) for p in discover_photos([tmp_path])]
    batch = collate_photos(items)
    assert [os.path.basename(i.photo.path) for i in batch.items] == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    assert [i.decoded for i in batch.items] == [True, False, False, True]
    assert batch.pixels.shape == (2, 3, 64, 64)
    assert all(i.pixels is None for i in batch.items)


def test_pillows_complaints_about_a_photo_are_logged_with_its_name(tmp_path, caplog, monkeypatch):
    photo = save_photo(tmp_path / "odd.jpg")
    decoder = PhotoDecoder(Preprocessing(input_size=64, resize_size=72))
    real_pixels = decoder.tensor

    def pixels_with_complaints(image):
        warnings.warn("Possibly corrupt EXIF data", UserWarning, stacklevel=1)
        logging.getLogger("PIL.TiffImagePlugin").error("More samples per pixel than can be decoded")
        return real_pixels(image)

    monkeypatch.setattr(decoder, "tensor", pixels_with_complaints)
    with caplog.at_level(logging.WARNING):
        item = Examiner(decoder)(photo_file(photo))
    assert item.decoded
    messages = [r.getMessage() for r in caplog.records]
    assert f"{photo}: More samples per pixel than can be decoded" in messages
    assert f"{photo}: Possibly corrupt EXIF data" in messages
    assert not any(r.name.startswith("PIL") for r in caplog.records)  # only with the photo's name


def _noisy_shapes(size, seed):
    """A picture as large in bytes as a camera's (noise does not compress)."""
    rng = np.random.default_rng(seed)
    noisy = np.asarray(shapes(size, seed), np.float32) + rng.normal(0, 20, (size[1], size[0], 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def test_a_located_photo_is_read_by_its_head_and_hashed_from_its_thumbnail(tmp_path):
    picture = _noisy_shapes((2400, 1600), seed=4)
    exif = exif_with_thumbnail(gps_exif(27.1751, 78.0421), picture.resize((160, 107)))
    path = tmp_path / "camera.jpg"
    path.write_bytes(jpeg_bytes(picture, quality=92, exif=exif))
    item = Examiner(DECODER, hash_pictures=True)(photo_file(path))
    assert item.gps is not None and not item.decoded
    assert item.bytes_read <= HEAD_BYTES < path.stat().st_size // 10
    whole = Examiner(DECODER, include_gps=True, hash_pictures=True)(photo_file(path))
    assert whole.decoded and whole.bytes_read == path.stat().st_size
    thumb, full = parse_hashes(pa.array([item.picture_hashes, whole.picture_hashes]))[0]
    assert mean_view_bits(full[None], thumb[None])[0] <= 6  # copies are told within 18


def test_a_located_photo_without_a_thumbnail_is_hashed_from_the_whole_file(tmp_path):
    picture = _noisy_shapes((1200, 800), seed=5)
    path = tmp_path / "scrubbed.jpg"
    path.write_bytes(jpeg_bytes(picture, quality=92, exif=gps_exif(1.0, 2.0).tobytes()))
    item = Examiner(DECODER, hash_pictures=True)(photo_file(path))
    assert item.picture_hashes is not None and item.bytes_read == path.stat().st_size
    # Without copies there is nothing to hash: the head is enough.
    assert Examiner(DECODER)(photo_file(path)).bytes_read <= HEAD_BYTES


def test_a_photo_to_decode_is_read_whole(tmp_path):
    path = tmp_path / "plain.jpg"
    path.write_bytes(jpeg_bytes(_noisy_shapes((1200, 800), seed=6), quality=92))
    item = Examiner(DECODER, hash_pictures=True)(photo_file(path))
    assert item.decoded and item.bytes_read == path.stat().st_size
