"""Is the photo already located? Read GPS coordinates from EXIF without decoding pixels.

exifread reads the EXIF block from the start of the file, so this costs a fraction of a millisecond.
Pillow's EXIF reader is the fallback for WebP, where exifread misses the EXIF chunk.
Anything malformed means "not located": a broken GPS block must never stop a scan.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
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


def read_gps(handle: BinaryIO) -> GpsFix | None:
    """GPS coordinates from the EXIF at the start of an open file (JPEG, TIFF, HEIC), or None."""
    try:
        tags = exifread.process_file(handle, details=False, extract_thumbnail=False)
    except Exception:  # exifread raises a wide variety of errors on corrupt EXIF
        return None
    try:
        return gps_fix(
            tags["GPS GPSLatitude"].values,
            tags["GPS GPSLatitudeRef"].values,
            tags["GPS GPSLongitude"].values,
            tags["GPS GPSLongitudeRef"].values,
        )
    except (KeyError, AttributeError):
        return None


def read_gps_pillow(image: Image.Image) -> GpsFix | None:
    """GPS coordinates from Pillow's view of an opened image's EXIF, or None."""
    try:
        gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        return gps_fix(
            gps[ExifTags.GPS.GPSLatitude],
            gps[ExifTags.GPS.GPSLatitudeRef],
            gps[ExifTags.GPS.GPSLongitude],
            gps[ExifTags.GPS.GPSLongitudeRef],
        )
    except Exception:  # missing keys, a broken GPS pointer, or a truncated file
        return None
