import io
import math
from datetime import datetime, timezone

import pytest
from PIL import ExifTags, Image, TiffImagePlugin

from landmark_tag.locating.exif import (
    CaptureTime,
    GpsFix,
    camera_name,
    gps_fix,
    read_exif,
    read_exif_pillow,
)
from tests.helpers import capture_exif, gps_exif, jpeg_bytes, save_photo, scene

CASES = [
    (48.8584, 2.2945),  # N, E
    (-33.8568, 151.2153),  # S, E
    (40.6892, -74.0445),  # N, W
    (-13.1631, -72.5450),  # S, W
]


@pytest.mark.parametrize(("lat", "lon"), CASES)
def test_read_gps_signs_from_refs(lat, lon):
    data = jpeg_bytes(scene(), exif=gps_exif(lat, lon))
    fix = read_exif(io.BytesIO(data)).gps
    assert fix is not None
    assert fix.latitude == pytest.approx(lat, abs=1e-5)
    assert fix.longitude == pytest.approx(lon, abs=1e-5)


def test_no_exif_is_not_located():
    assert read_exif(io.BytesIO(jpeg_bytes(scene()))).gps is None


def test_gps_ifd_without_coordinates_is_not_located():
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSAltitude] = TiffImagePlugin.IFDRational(120, 1)
    assert read_exif(io.BytesIO(jpeg_bytes(scene(), exif=exif))).gps is None


def test_nan_coordinates_are_not_located():
    exif = gps_exif(10.0, 20.0)
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] = (
        TiffImagePlugin.IFDRational(0, 0),
        TiffImagePlugin.IFDRational(0, 1),
        TiffImagePlugin.IFDRational(0, 1),
    )
    assert read_exif(io.BytesIO(jpeg_bytes(scene(), exif=exif))).gps is None


def test_broken_gps_pointer_is_not_located():
    # A GPSInfo tag whose offset points far past the end of the EXIF block.
    data = jpeg_bytes(scene(), exif=gps_exif(10.0, 20.0))
    # Pillow writes big-endian EXIF; the GPSInfo entry is tag 0x8825, LONG, count 1, then the offset.
    entry = bytes.fromhex("8825 0004 00000001")
    at = data.index(entry) + len(entry)
    broken = data[:at] + bytes.fromhex("7ffffff0") + data[at + 4 :]
    assert read_exif(io.BytesIO(data)).gps is not None
    assert read_exif(io.BytesIO(broken)).gps is None


@pytest.mark.parametrize(
    ("lat", "lat_ref", "lon", "lon_ref"),
    [
        ((91, 0, 0), "N", (10, 0, 0), "E"),  # out of range
        ((10, 0, 0), "N", (181, 0, 0), "W"),
        ((10, 0, 0), "X", (10, 0, 0), "E"),  # unknown ref
        ((), "N", (10, 0, 0), "E"),  # zero-length value
        ((10, math.nan, 0), "N", (10, 0, 0), "E"),
        ((10, math.inf, 0), "N", (10, 0, 0), "E"),
        ((0, 0, 0), "N", (0, 0, 0), "E"),  # the no-fix placeholder
        ("garbage", "N", (10, 0, 0), "E"),
    ],
)
def test_invalid_values_are_rejected(lat, lat_ref, lon, lon_ref):
    assert gps_fix(lat, lat_ref, lon, lon_ref) is None


def test_decimal_degrees_and_bytes_refs():
    assert gps_fix((12.5,), b"S\x00", [1, 30, 0], "w") == GpsFix(-12.5, -1.5)


def test_corrupt_file_is_not_located():
    assert read_exif(io.BytesIO(b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00garbage")).gps is None


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_exifread_reads_png_and_tiff(fmt):
    buffer = io.BytesIO()
    scene().save(buffer, fmt, exif=gps_exif(-22.9519, -43.2105).tobytes())
    buffer.seek(0)
    assert read_exif(buffer).gps.latitude == pytest.approx(-22.9519, abs=1e-5)


def test_pillow_fallback_reads_webp_exif():
    buffer = io.BytesIO()
    scene().save(buffer, "WEBP", exif=gps_exif(-22.9519, -43.2105).tobytes())
    buffer.seek(0)
    with Image.open(buffer) as image:
        fix = read_exif_pillow(image).gps
    assert fix is not None
    assert fix.latitude == pytest.approx(-22.9519, abs=1e-5)
    assert fix.longitude == pytest.approx(-43.2105, abs=1e-5)


def test_a_photo_without_exif_prints_nothing_where_logging_is_not_set_up(tmp_path):
    # Decode workers and Ray tasks have no logging set up: exifread's warning reached the terminal.
    import subprocess
    import sys

    from tests.helpers import save_photo, scene

    photo = save_photo(tmp_path / "plain.png", scene())
    script = "from landmark_tag.locating.exif import read_exif\n"
    script += f"print(read_exif(open({str(photo)!r}, 'rb')).gps)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "None" and result.stderr == ""


# ---------------------------------------------------------------- capture time and camera

UTC = timezone.utc


def exif_of(path):
    with open(path, "rb") as handle:
        return read_exif(handle)


def test_the_camera_clock_with_its_offset_gives_utc(tmp_path):
    exif = capture_exif(
        taken="2017:04:17 13:34:18", subseconds="25", offset="+02:00", make="SONY", model="DSC-HX400V",
        serial="4021737",
    )  # fmt: skip
    found = exif_of(save_photo(tmp_path / "a.jpg", exif=exif))
    assert found.taken.local == "2017-04-17T13:34:18.25" and found.taken.offset == "+02:00"
    assert found.taken.utc == datetime(2017, 4, 17, 11, 34, 18, 250000, tzinfo=UTC).timestamp()
    assert found.camera == "SONY DSC-HX400V #4021737"


def test_a_clock_without_an_offset_is_never_read_as_utc_and_gps_time_is_kept_apart(tmp_path):
    exif = capture_exif(
        gps_exif(50.87, 4.33), taken="2017:04:17 13:34:18", gps_date="2017:04:17", gps_time=(12, 34, 20)
    )
    found = exif_of(save_photo(tmp_path / "a.jpg", exif=exif))
    assert found.taken.local == "2017-04-17T13:34:18" and found.taken.utc is None
    assert found.taken.gps_utc == datetime(2017, 4, 17, 12, 34, 20, tzinfo=UTC).timestamp()
    assert found.gps is not None


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"taken": "0000:00:00 00:00:00"}, CaptureTime()),  # what cameras write for "unset"
        ({"taken": "    :  :     :  :  "}, CaptureTime()),
        ({"taken": "2017:04:17 13:34:18", "offset": "+25:00"}, CaptureTime("2017-04-17T13:34:18")),
        ({"gps_date": "2017:04:17", "gps_time": (25, 0, 0)}, CaptureTime()),
        ({"gps_date": "garbage", "gps_time": (12, 0, 0)}, CaptureTime()),
        # Placeholders at the ends of the calendar: in UTC they would leave it (year 10000, year 0).
        ({"taken": "9999:12:31 23:59:59", "offset": "-14:00"}, CaptureTime(offset="-14:00")),
        ({"taken": "0001:01:01 00:00:00", "offset": "+14:00"}, CaptureTime(offset="+14:00")),
        ({"gps_date": "9999:12:31", "gps_time": (23, 59, 59)}, CaptureTime()),
    ],
)
def test_times_that_are_not_times_are_left_out(tmp_path, tags, expected):
    assert exif_of(save_photo(tmp_path / "a.jpg", exif=capture_exif(**tags))).taken == expected


def test_a_model_that_names_its_make_is_not_doubled():
    assert camera_name("Canon", "Canon EOS R5", None) == "Canon EOS R5"
    assert camera_name(b"DJI\x00", "FC300S", "") == "DJI FC300S"
    assert camera_name(None, None, "123") is None


def test_webp_capture_time_is_read_through_pillow(tmp_path):
    exif = capture_exif(taken="2020:01:02 03:04:05", offset="-05:30", make="Google", model="Pixel 4")
    path = save_photo(tmp_path / "a.webp", exif=exif)
    with Image.open(path) as image:
        found = read_exif_pillow(image)
    assert found.taken.utc == datetime(2020, 1, 2, 8, 34, 5, tzinfo=UTC).timestamp()
    assert found.camera == "Google Pixel 4"
