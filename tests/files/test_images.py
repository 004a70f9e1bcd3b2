"""load_rgb: where the scan, training, `predict --show` and the report's thumbnails all start."""

import io

import numpy as np
import pytest
from PIL import ExifTags, Image

from landmark_tag.files.images import DecodeError, load_rgb, thumbnail_picture
from tests.helpers import jpeg_bytes, quadrants


def test_a_jpeg_decodes_at_the_smallest_scale_that_covers_the_draft_size():
    photo = io.BytesIO(jpeg_bytes(quadrants((1600, 1200)), quality=95))
    image = load_rgb(photo, draft_size=300)
    assert image.mode == "RGB"
    assert image.size == (400, 300)  # 1/4 scale: 1/8 would be 150 px high, under 300
    assert load_rgb(io.BytesIO(photo.getvalue())).size == (1600, 1200)  # no draft size: full scale


def test_upright_and_rgb_whatever_the_file_says():
    upright = quadrants((320, 240))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "rotate 90 clockwise to view"
    stored = upright.transpose(Image.Transpose.ROTATE_90).convert("L").convert("RGB")
    image = load_rgb(io.BytesIO(jpeg_bytes(stored, exif=exif.tobytes(), quality=95)))
    assert image.size == (320, 240)
    grey = np.asarray(upright.convert("L"), dtype=np.float32)
    assert np.abs(np.asarray(image.convert("L"), dtype=np.float32) - grey).mean() < 8


def test_a_file_that_is_not_a_photo_is_a_decode_error():
    with pytest.raises(DecodeError, match="not a recognised image format"):
        load_rgb(io.BytesIO(b"plain text, not a photo"))


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L").resize((32, 24)), dtype=np.float32)


def test_a_thumbnail_of_the_photos_shape_stands_for_it_upright():
    upright = quadrants((300, 200))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a camera held upright stores it
    small = io.BytesIO(jpeg_bytes(stored.resize((107, 160)), quality=90)).getvalue()
    picture = thumbnail_picture(small, stored.size, orientation=6)
    assert picture is not None and picture.size == (160, 107)
    assert np.abs(_grey(picture) - _grey(upright)).mean() < 8


def test_a_letterboxed_thumbnail_loses_its_black_bands():
    photo = quadrants((300, 200))  # 3:2, in a 4:3 thumbnail with bands above and below
    boxed = Image.new("RGB", (160, 120))
    boxed.paste(photo.resize((160, 107)), (0, 6))
    picture = thumbnail_picture(jpeg_bytes(boxed, quality=80), photo.size)
    assert picture is not None and picture.size == (160, 107)
    assert np.abs(_grey(picture) - _grey(photo)).mean() < 8


def test_a_thumbnail_that_does_not_show_the_photos_shape_is_not_used():
    stale = quadrants((160, 120))  # a 4:3 picture with no bands: the photo was cropped since
    assert thumbnail_picture(jpeg_bytes(stale), (3000, 2000)) is None
    assert thumbnail_picture(jpeg_bytes(quadrants((80, 60))), (800, 600)) is None  # too small
    assert thumbnail_picture(b"not a jpeg", (800, 600)) is None
