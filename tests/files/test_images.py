"""load_rgb: where the scan, training, `predict --show` and the report's thumbnails all start."""

import io

import numpy as np
import pytest
from PIL import ExifTags, Image

from landmark_tag.files.images import DecodeError, load_rgb
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
