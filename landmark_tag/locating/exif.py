"""What a photo's EXIF says about where and when: GPS coordinates, capture time, camera.

Read without decoding pixels: exifread reads the EXIF block from the start of the file, so this
costs a fraction of a millisecond. Pillow's EXIF reader is the fallback for WebP, where exifread
misses the EXIF chunk. Anything malformed is left out ("not located", "time unknown"): a broken
EXIF block must never stop a scan.

Times are kept as the EXIF has them: DateTimeOriginal is the camera's clock, in whatever zone it
was set to (often wrong), and is never read as UTC; OffsetTimeOriginal, where the camera wrote it,
ties it to UTC; GPSDateStamp/GPSTimeStamp is UTC by definition.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO

import exifread
from PIL import ExifTags, Image

# exifread warns of every photo without EXIF ("PNG file does not have exif data."), which is no news
# in a scan. Set here, where every process that reads EXIF (decode workers, Ray tasks) imports it.
logging.getLogger("exifread").setLevel(logging.ERROR)


@dataclass(frozen=True)
class GpsFix:
    """Coordinates in signed decimal degrees (WGS84): south and west are negative."""

    latitude: float
    longitude: float


@dataclass(frozen=True)
class CaptureTime:
    """When a photo was taken, as its EXIF says: the camera's clock, and what ties it to UTC."""

    local: str | None = None  # DateTimeOriginal (+ SubSecTimeOriginal), ISO 8601 without zone
    offset: str | None = None  # OffsetTimeOriginal, "+02:00": the camera clock's offset from UTC
    gps_utc: float | None = None  # GPSDateStamp + GPSTimeStamp, POSIX seconds (UTC by definition)

    @property
    def utc(self) -> float | None:
        """The capture time in UTC, POSIX seconds, when the EXIF says it: the camera's clock with its
        offset. A clock without an offset is never read as UTC."""
        if self.local is None or self.offset is None:
            return None
        return datetime.fromisoformat(self.local + self.offset).timestamp()


@dataclass(frozen=True)
class PhotoExif:
    """What a scan keeps of a photo's EXIF. Anything malformed is left out, never raised."""

    gps: GpsFix | None = None
    taken: CaptureTime = field(default_factory=CaptureTime)
    camera: str | None = None  # make and model, and the body's serial number where present
    # Read only when asked (`read_exif(..., thumbnail=True)`): the JPEG thumbnail a camera stores in
    # the EXIF, and the orientation it shares with the photo.
    thumbnail: bytes | None = field(default=None, repr=False)
    orientation: int = 1


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else None
    text = str(value).strip("\x00 ") if value is not None else ""
    return text or None


# No photo was taken before photography, or in the far future: such a date is a broken clock or a
# placeholder (9999:12:31), and at either end of the calendar it cannot even be carried to UTC.
EARLIEST_YEAR, LATEST_YEAR = 1826, 2999


def local_time(date_time: Any, subseconds: Any = None) -> str | None:
    """EXIF's "YYYY:MM:DD HH:MM:SS" (+ sub-second digits) as ISO 8601, or None when not a time."""
    text = _text(date_time)
    if text is None:
        return None
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        return None
    digits = "".join(ch for ch in (_text(subseconds) or "") if ch.isdigit())
    iso = moment.isoformat()
    return f"{iso}.{digits[:6]}" if digits else iso


def utc_offset(value: Any) -> str | None:
    """EXIF's OffsetTime ("+02:00", "-05:30"), checked, or None."""
    text = _text(value)
    if text is None or len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    return text if hours <= 14 and minutes < 60 else None


def gps_time(date_stamp: Any, time_stamp: Any) -> float | None:
    """GPSDateStamp ("YYYY:MM:DD") and GPSTimeStamp (hours, minutes, seconds: UTC) as POSIX seconds."""
    text = _text(date_stamp)
    if text is None or time_stamp is None:
        return None
    try:
        day = datetime.strptime(text[:10].replace("-", ":"), "%Y:%m:%d").replace(tzinfo=timezone.utc)
        hours, minutes, seconds = (_as_float(part) for part in time_stamp)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        return None
    if not all(math.isfinite(part) and part >= 0 for part in (hours, minutes, seconds)):
        return None
    if hours >= 24 or minutes >= 60 or seconds >= 61:
        return None
    return day.timestamp() + hours * 3600 + minutes * 60 + seconds


def camera_name(make: Any, model: Any, serial: Any) -> str | None:
    """ "SONY DSC-HX400V", "Canon EOS R5 #032021001234": one camera body, as the clocks know it."""
    make_text, model_text, serial_text = _text(make), _text(model), _text(serial)
    if model_text and make_text and model_text.lower().startswith(make_text.lower()):
        make_text = None  # "Canon" "Canon EOS R5": the model already names the make
    name = " ".join(part for part in (make_text, model_text) if part)
    if not name:
        return None
    return f"{name} #{serial_text}" if serial_text else name


def _as_float(value: Any) -> float:
    # Both exifread's Ratio and Pillow's IFDRational expose numerator/denominator; 0/0 means "unknown".
    numerator = getattr(value, "numerator", None)
    denominator = getattr(value, "denominator", None)
    if numerator is not None and denominator is not None:
        if denominator == 0:
            return math.nan
        return float(numerator) / float(denominator)
    return float(value)


def _degrees(values: Any, ref: Any, positive: str, negative: str, limit: float) -> float | None:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        values = [values]
    if not 1 <= len(values) <= 3:
        return None
    parts = [_as_float(v) for v in values]
    if any(not math.isfinite(p) or p < 0 for p in parts):
        return None
    degrees = sum(part / 60**i for i, part in enumerate(parts))
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = str(ref).strip("\x00 ").upper()
    if ref == negative:
        degrees = -degrees
    elif ref != positive:
        return None
    if degrees > limit or degrees < -limit:
        return None
    return degrees


def gps_fix(lat_values: Any, lat_ref: Any, lon_values: Any, lon_ref: Any) -> GpsFix | None:
    """Validate raw EXIF GPS fields and turn them into a `GpsFix`, or None when they don't locate."""
    try:
        latitude = _degrees(lat_values, lat_ref, "N", "S", 90.0)
        longitude = _degrees(lon_values, lon_ref, "E", "W", 180.0)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if latitude is None or longitude is None:
        return None
    # 0,0 is what many cameras write before they have a fix; no photo of a landmark is taken there.
    if latitude == 0.0 and longitude == 0.0:
        return None
    return GpsFix(latitude, longitude)


def read_exif(handle: BinaryIO, thumbnail: bool = False) -> PhotoExif:
    """GPS, capture time and camera from the EXIF at the start of an open file (JPEG, TIFF, HEIC);
    with `thumbnail`, its JPEG thumbnail and orientation too."""
    try:
        tags = exifread.process_file(handle, details=False, extract_thumbnail=thumbnail)
    except Exception:  # exifread raises a wide variety of errors on corrupt EXIF
        return PhotoExif()

    def value(name: str) -> Any:
        tag = tags.get(name)
        return getattr(tag, "values", None) if tag is not None else None

    try:
        gps = gps_fix(
            value("GPS GPSLatitude"),
            value("GPS GPSLatitudeRef"),
            value("GPS GPSLongitude"),
            value("GPS GPSLongitudeRef"),
        )
    except Exception:
        gps = None
    taken = CaptureTime(
        local_time(value("EXIF DateTimeOriginal"), value("EXIF SubSecTimeOriginal")),
        utc_offset(value("EXIF OffsetTimeOriginal")),
        gps_time(value("GPS GPSDate"), value("GPS GPSTimeStamp")),
    )
    camera = camera_name(value("Image Make"), value("Image Model"), value("EXIF BodySerialNumber"))
    small = tags.get("JPEGThumbnail") if thumbnail else None
    turned = value("Image Orientation")
    orientation = turned[0] if isinstance(turned, list) and turned and turned[0] in range(1, 9) else 1
    return PhotoExif(gps, taken, camera, small if isinstance(small, bytes) and small else None, orientation)


def read_exif_pillow(image: Image.Image) -> PhotoExif:
    """GPS, capture time and camera from Pillow's view of an opened image's EXIF."""
    try:
        exif = image.getexif()
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # a broken pointer, or a truncated file
        return PhotoExif()
    try:
        fix = gps_fix(
            gps.get(ExifTags.GPS.GPSLatitude),
            gps.get(ExifTags.GPS.GPSLatitudeRef),
            gps.get(ExifTags.GPS.GPSLongitude),
            gps.get(ExifTags.GPS.GPSLongitudeRef),
        )
    except Exception:
        fix = None
    taken = CaptureTime(
        local_time(ifd.get(ExifTags.Base.DateTimeOriginal), ifd.get(ExifTags.Base.SubsecTimeOriginal)),
        utc_offset(ifd.get(ExifTags.Base.OffsetTimeOriginal)),
        gps_time(gps.get(ExifTags.GPS.GPSDateStamp), gps.get(ExifTags.GPS.GPSTimeStamp)),
    )
    camera = camera_name(
        exif.get(ExifTags.Base.Make), exif.get(ExifTags.Base.Model), ifd.get(ExifTags.Base.BodySerialNumber)
    )
    return PhotoExif(fix, taken, camera)
