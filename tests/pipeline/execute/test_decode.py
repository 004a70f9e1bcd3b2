import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image

from landmark_tag.files.images import DecodeError, to_rgb
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from tests.helpers import jpeg_bytes, quadrants, scene

PREP = Preprocessing(input_size=64, resize_size=72, mean=(0, 0, 0), std=(1, 1, 1))

# What each EXIF orientation asks a viewer to do, and the inverse we apply to store the file.
INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(INVERSE))
def test_exif_orientation_is_applied(orientation):
    upright = quadrants((320, 240))
    stored = upright.transpose(INVERSE[orientation]) if INVERSE[orientation] is not None else upright
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    decoder = PhotoDecoder(PREP)
    got = decoder(io.BytesIO(jpeg_bytes(stored, exif=exif.tobytes(), quality=95)))
    want = decoder(io.BytesIO(jpeg_bytes(upright, quality=95)))
    assert got.shape == (3, 64, 64)
    assert (got - want).abs().mean() < 0.03


def test_orientation_actually_matters():
    # Guard for the test above: without correction, a rotated photo decodes differently.
    upright = quadrants((320, 240))
    decoder = PhotoDecoder(PREP)
    rotated = decoder(io.BytesIO(jpeg_bytes(upright.transpose(Image.Transpose.ROTATE_90), quality=95)))
    assert (rotated - decoder(io.BytesIO(jpeg_bytes(upright, quality=95)))).abs().mean() > 0.1


def test_draft_mode_matches_full_decode_closely():
    photo = scene((3000, 2000), seed=3)
    data = jpeg_bytes(photo, quality=90)
    fast = PhotoDecoder(PREP)(io.BytesIO(data))
    full = PhotoDecoder(PREP, use_draft=False)(io.BytesIO(data))
    assert (fast - full).abs().mean() < 0.02


def test_draft_mode_decodes_at_reduced_scale():
    decoder = PhotoDecoder(PREP)
    with decoder.open(io.BytesIO(jpeg_bytes(scene((3000, 2000)), quality=90))) as image:
        image.load()
        assert min(image.size) >= PREP.resize_size
        assert image.size[0] <= 3000 // 8 * 2  # at least a 1/4 reduction for a 72 px target


def _png16(value: int) -> Image.Image:
    return Image.fromarray(np.full((40, 50), value, dtype=np.uint16))  # mode I;16


@pytest.mark.parametrize(
    ("image", "expected_grey"),
    [
        (Image.new("L", (50, 40), 128), 128 / 255),
        (Image.new("1", (50, 40), 1), 1.0),
        (Image.new("CMYK", (50, 40), (0, 0, 0, 0)), 1.0),
        (Image.new("LA", (50, 40), (0, 0)), 1.0),  # fully transparent -> white background
        (Image.new("RGBA", (50, 40), (0, 0, 0, 255)), 0.0),
        (_png16(32768), 0.5),  # 16-bit must be scaled, not clipped to white
        (Image.new("F", (50, 40), 1.0), 1.0),
    ],
)
def test_every_mode_becomes_rgb(image, expected_grey):
    rgb = to_rgb(image)
    assert rgb.mode == "RGB"
    assert np.asarray(rgb).mean() / 255 == pytest.approx(expected_grey, abs=0.01)


def test_palette_with_transparency():
    image = Image.new("P", (50, 40), 0)
    image.putpalette([255, 0, 0] * 256)
    image.info["transparency"] = 0
    assert np.asarray(to_rgb(image)).mean() == pytest.approx(255)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA"])
def test_decoder_output_shape_for_saved_modes(tmp_path, mode):
    image = scene((90, 80)).convert("RGBA" if mode in ("RGBA", "LA") else "RGB")
    if mode == "I;16":
        image = _png16(1000)
    elif mode != "RGBA":
        image = image.convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    image.save(path)
    pixels = PhotoDecoder(PREP)(str(path))
    assert pixels.shape == (3, 64, 64)
    assert pixels.dtype == torch.float32
    assert torch.isfinite(pixels).all()


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_refused_by_pillow():
    with pytest.raises(DecodeError, match="decompression bomb"):
        PhotoDecoder(PREP)(io.BytesIO(_png_header_only(20000, 20000)))


def test_decompression_bomb_refused_by_own_limit():
    with pytest.raises(DecodeError, match="pixel limit"):
        PhotoDecoder(PREP, max_pixels=1000)(io.BytesIO(jpeg_bytes(scene((100, 100)))))


def test_truncated_jpeg():
    data = jpeg_bytes(scene((800, 600)), quality=90)
    with pytest.raises(DecodeError, match="truncated"):
        PhotoDecoder(PREP)(io.BytesIO(data[: len(data) // 2]))


def test_a_jpeg_whose_header_claims_far_more_pixels_than_it_holds_fails():
    data = bytearray(jpeg_bytes(scene((120, 90))))
    start_of_frame = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, start_of_frame + 5, 12000, 12000)  # height, width
    with pytest.raises(DecodeError, match="cannot hold the 12000x12000 pixels"):
        PhotoDecoder(PREP)(io.BytesIO(bytes(data)))
    # Plain pictures compress very well and still pass: a flat grey 4000x3000 JPEG.
    flat = jpeg_bytes(Image.new("RGB", (4000, 3000), (128, 128, 128)), quality=10)
    assert PhotoDecoder(PREP)(io.BytesIO(flat)).shape == (3, PREP.input_size, PREP.input_size)


def test_not_an_image():
    with pytest.raises(DecodeError, match="not a recognised image"):
        PhotoDecoder(PREP)(io.BytesIO(b"hello, I am a text file"))


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="file not found"):
        PhotoDecoder(PREP)(str(tmp_path / "gone.jpg"))


def test_heic_decodes(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    path = tmp_path / "photo.heic"
    try:
        pillow_heif.register_heif_opener()
        scene((120, 90)).save(path, format="HEIF")
    except (OSError, KeyError, ValueError) as exc:
        pytest.skip(f"this pillow-heif build cannot encode HEIF: {exc}")
    assert PhotoDecoder(PREP)(str(path)).shape == (3, 64, 64)
