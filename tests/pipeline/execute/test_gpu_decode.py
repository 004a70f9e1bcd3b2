"""The GPU decode stage, run on the CPU: torchvision's decode_jpeg takes the same path up to the
decoder itself, so orientation, preprocessing, fallbacks and the merge into scan order are checked
here; the CUDA decoder itself is measured by benchmarks/perf/scan_throughput.py where a GPU is present."""

import io

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image, ImageOps

from landmark_tag.files.discover import PhotoFile
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.execute.batch import collate_photos
from landmark_tag.pipeline.execute.decode import PhotoDecoder, exif_orientation, wants_device_decode
from landmark_tag.pipeline.execute.examine import Examiner, PhotoItem
from landmark_tag.pipeline.execute.gpu_decode import DeviceJpegDecoder, decode_on_device, upright
from tests.helpers import jpeg_bytes, quadrants, scene

PREP = Preprocessing(224, 256, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic")


def with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif


def jpeg_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_pixels_as_pillow_does(orientation):
    array = np.random.default_rng(orientation).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", exif=with_orientation(orientation).tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buffer)))
    turned = upright(torch.from_numpy(array).permute(2, 0, 1), orientation).permute(1, 2, 0)
    assert np.array_equal(turned.numpy(), expected)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_device_decode_matches_the_pillow_decode(orientation):
    # Quadrants make a wrong turn obvious; the scene on top makes the content photo-like.
    image = Image.blend(quadrants((900, 600)), scene((900, 600), seed=orientation), 0.3)
    data = jpeg_bytes(image, quality=92, exif=with_orientation(orientation).tobytes())
    expected = PhotoDecoder(PREP, use_draft=False)(io.BytesIO(data))
    (pixels,) = DeviceJpegDecoder(PREP, "cpu")([jpeg_tensor(data)], [orientation])
    assert pixels.shape == expected.shape == (3, 224, 224)
    # Bicubic resampling in float on tensors vs in 8 bits in Pillow: the values (which span [-1, 1])
    # differ by 0.002 on average and under 0.01 anywhere; a wrong turn differs by over 0.6 on average.
    assert (pixels - expected).abs().mean() < 0.01
    assert (pixels - expected).abs().max() < 0.03


def test_a_jpeg_the_decoder_refuses_does_not_take_the_batch_down():
    good = jpeg_bytes(scene((400, 300)), quality=90)
    broken = good[: len(good) // 2]  # truncated
    results = DeviceJpegDecoder(PREP, "cpu")(
        [jpeg_tensor(good), jpeg_tensor(broken), jpeg_tensor(good)], [1, 1, 1]
    )
    assert results[1] is None
    assert results[0] is not None and torch.equal(results[0], results[2])


def test_which_photos_go_to_the_device(tmp_path):
    data = jpeg_bytes(scene((400, 300)), quality=90, exif=with_orientation(6).tobytes())
    image = Image.open(io.BytesIO(data))
    assert wants_device_decode(image, len(data), min_bytes=1000)
    assert not wants_device_decode(image, len(data), min_bytes=len(data) + 1)  # too small to bother
    assert exif_orientation(image) == 6
    cmyk = Image.open(io.BytesIO(jpeg_bytes(scene().convert("CMYK"))))
    assert not wants_device_decode(cmyk, 10**7, min_bytes=1)  # Pillow converts CMYK properly
    png = io.BytesIO()
    scene().save(png, "PNG")
    assert not wants_device_decode(Image.open(png), 10**7, min_bytes=1)
    strip = Image.open(io.BytesIO(jpeg_bytes(scene((4000, 200)))))  # 20:1, enlarged whole on the GPU
    assert not wants_device_decode(strip, 10**7, min_bytes=1)


def photo(tmp_path, name, data) -> PhotoFile:
    path = tmp_path / name
    path.write_bytes(data)
    return PhotoFile(str(path), len(data), path.stat().st_mtime)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_batch_with_device_jpegs_comes_out_in_scan_order(tmp_path, monkeypatch, dtype):
    big = jpeg_bytes(scene((800, 600), seed=1), quality=95)
    big_rotated = jpeg_bytes(quadrants((800, 600)), quality=95, exif=with_orientation(6).tobytes())
    small = jpeg_bytes(scene((300, 200), seed=2), quality=70)
    photos = [
        photo(tmp_path, "small.jpg", small),
        photo(tmp_path, "big.jpg", big),
        photo(tmp_path, "broken.jpg", b"\xff\xd8 not really a jpeg"),
        photo(tmp_path, "rotated.jpg", big_rotated),
        photo(tmp_path, "refused.jpg", big),
    ]
    decoder = PhotoDecoder(PREP, dtype=dtype)
    threshold = len(small) + 1
    items = [Examiner(decoder, device_jpeg_min_bytes=threshold)(p) for p in photos]
    assert [item.jpeg is not None for item in items] == [False, True, False, True, True]
    assert items[3].orientation == 6

    device_decoder = DeviceJpegDecoder(PREP, "cpu", dtype)
    real_call = DeviceJpegDecoder.__call__

    def refuses_the_last(self, jpegs, orientations):  # as nvJPEG might refuse one Pillow can read
        return [*real_call(self, jpegs[:-1], orientations[:-1]), None]

    monkeypatch.setattr(DeviceJpegDecoder, "__call__", refuses_the_last)
    batch = decode_on_device(collate_photos(items), device_decoder, decoder)
    assert [item.decoded for item in batch.items] == [True, True, False, True, True]
    assert batch.items[2].error and all(item.jpeg is None for item in batch.items)
    assert batch.pixels.shape == (4, 3, 224, 224) and batch.pixels.dtype == dtype
    full = PhotoDecoder(PREP, use_draft=False)
    expected = [decoder(photos[0].path), full(photos[1].path), full(photos[3].path), decoder(photos[4].path)]
    for pixels, want in zip(batch.pixels, expected, strict=True):
        assert (pixels.float() - want.float()).abs().mean() < 0.02


def test_a_batch_without_device_jpegs_is_left_alone():
    items = [PhotoItem(PhotoFile("a.jpg", 1, 0.0), pixels=torch.zeros(3, 224, 224), decoded=True)]
    batch = collate_photos(items)
    pixels = batch.pixels
    assert decode_on_device(batch, DeviceJpegDecoder(PREP, "cpu"), PhotoDecoder(PREP)).pixels is pixels
