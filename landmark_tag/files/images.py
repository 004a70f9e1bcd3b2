"""Opening photo files, as the scan, training, `predict` and the report all do: decompression-bomb
checks, JPEG draft mode, EXIF orientation, any mode to 8-bit RGB, and readable reasons for every
failure.

Only Pillow: the report's thumbnails use it with no deep-learning framework loaded. The model's
preprocessing on top is the decode stage's (`pipeline.decode.PhotoDecoder`).
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# The most pixels one photo may decode to (`--max-pixels`). Pillow refuses images over about 179
# million pixels as decompression bombs, but one PNG of 13000x13000 (169 million) still took 1.1 GB
# in each decode worker. 120 million keeps the largest camera sensors (about 102 million) and JPEGs
# of any size, which decode at a reduced scale (draft mode) and are counted after it.
DEFAULT_MAX_PIXELS = 120_000_000


class DecodeError(Exception):
    """A photo that cannot be turned into pixels; the message is meant for the output's error column."""


def register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # HEIC photos then fail with a clear "not a recognised image" error
        return
    register_heif_opener()


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: transparency onto white, 16/32-bit scaled down, CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's own conversion clips these at 255, turning most 16-bit photos white.
        array = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        scaled = np.clip(array / peak * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa")
    if has_alpha or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def open_image(
    source: str | BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: int | None = None
) -> Image.Image:
    """Open a photo lazily (header only) and refuse decompression bombs before any decoding.

    With `draft_size`, a JPEG is set to decode at the largest 1/2^n scale that still covers
    draft_size x draft_size, which libjpeg does several times faster than a full decode.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"image too large, refused as a possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise DecodeError(EMPTY_FILE if _is_empty(source) else "not a recognised image format") from None
    except OSError as exc:
        raise DecodeError(describe_os_error(exc)) from None
    except (ValueError, EOFError, SyntaxError) as exc:  # Pillow's words for broken headers and metadata
        raise DecodeError(_describe_broken(exc)) from None
    if image.format == "JPEG":
        _refuse_hollow_jpeg(image)
        if draft_size:
            image.draft("RGB", (draft_size, draft_size))
    width, height = image.size  # what will be decoded: a JPEG's after draft mode reduced it
    if width * height > max_pixels:
        image.close()
        raise DecodeError(
            f"image too large: decoding it takes {width}x{height} pixels, over the {max_pixels:,} pixel "
            "limit (--max-pixels)"
        )
    return image


def load_rgb(
    source: str | BinaryIO, draft_size: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """A photo decoded (a JPEG at the smallest scale that covers `draft_size`), turned upright and
    in 8-bit RGB: where every model input and thumbnail starts. Raises DecodeError."""
    with open_image(source, max_pixels, draft_size) as image:
        return to_rgb(oriented(image))


def _refuse_hollow_jpeg(image: Image.Image) -> None:
    """A JPEG spends at least a bit or so on every 8x8 block, however plain the picture; one far
    smaller than its header's size holds only part of a picture (libjpeg would fill the rest with
    grey and raise nothing). A 12000x12000 header over 120x90 of data is the case in point."""
    width, height = image.size
    size = _byte_size(getattr(image, "fp", None))  # the open file, where Pillow still holds it
    if size is not None and size * 512 < width * height:
        image.close()
        raise DecodeError(
            f"corrupt or truncated image: {size:,} bytes cannot hold the {width}x{height} pixels its "
            "header claims"
        )


def oriented(image: Image.Image) -> Image.Image:
    """Decode an opened photo's pixels and turn them upright as its EXIF orientation says."""
    try:
        image.load()
        return ImageOps.exif_transpose(image) or image
    except OSError as exc:
        raise DecodeError(f"corrupt or truncated image: {exc}") from None
    except MemoryError:
        raise DecodeError("image too large to decode in the memory available") from None
    except (ValueError, EOFError, SyntaxError) as exc:
        raise DecodeError(_describe_broken(exc)) from None


EMPTY_FILE = "empty file (0 bytes)"


def _byte_size(source: str | BinaryIO | None) -> int | None:
    """A file's size, from its path or from an open file left where it was; None if unknown."""
    try:
        if source is None:
            return None
        if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
            return os.path.getsize(source)
        position = source.tell()
        size = source.seek(0, 2)
        source.seek(position)
    except (OSError, AttributeError):
        return None
    return size if isinstance(size, int) else None


def _is_empty(source: str | BinaryIO) -> bool:
    return _byte_size(source) == 0


def _describe_broken(exc: Exception) -> str:
    """Pillow's internal complaints about a broken file, in words about the photo."""
    text = str(exc)
    if "MAX_TEXT_CHUNK" in text or "too large" in text.lower():
        return "corrupt or hostile image: its metadata is larger than the safety limit for reading it"
    if "seek to frame" in text or isinstance(exc, EOFError):
        return "corrupt or truncated image: it ends before the frame it describes"
    return "corrupt image: its header or metadata cannot be read"


def describe_os_error(exc: OSError) -> str:
    """A short, readable reason for a failed file operation."""
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return f"cannot read file: {exc.strerror or exc}"


# A thumbnail stands for its photo when its shape is the photo's within this share: cameras
# round 160 px thumbnails to whole pixels (a 3:2 photo's is 160 x 107), and a photo cropped after
# the thumbnail was made (which an editor may leave stale) differs by more.
THUMBNAIL_SHAPE_TOLERANCE = 0.02
# Cameras that store every thumbnail at 160 x 120 letterbox other shapes with black bands; pixels
# of a band are at most this bright (of 255) after the thumbnail's JPEG compression.
BLACK_BAND_LEVEL = 40
THUMBNAIL_MIN_SIDE = 120  # its longer side: about what picture hashes look at (locating.copies)
_UPRIGHT = {  # EXIF orientation -> the turn that makes the picture upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def thumbnail_picture(jpeg: bytes, photo_size: tuple[int, int], orientation: int = 1) -> Image.Image | None:
    """A photo's EXIF thumbnail as an upright RGB picture of the photo's shape (black letterbox
    bands cut away), to stand for the photo where a small picture is enough; None where it cannot:
    unreadable, too small, or of another shape than the photo (`photo_size`, as stored, before
    `orientation`), as a thumbnail left from before a crop is."""
    try:
        with Image.open(io.BytesIO(jpeg)) as opened:
            thumbnail = opened.convert("RGB")
    except Exception:  # a broken thumbnail only means the photo itself is looked at
        return None
    if max(thumbnail.size) < THUMBNAIL_MIN_SIDE or min(photo_size) < 1:
        return None
    picture = _without_black_bands(thumbnail, photo_size[0] / photo_size[1])
    if picture is None:
        return None
    turn = _UPRIGHT.get(orientation)
    return picture.transpose(turn) if turn is not None else picture


def _without_black_bands(thumbnail: Image.Image, shape: float) -> Image.Image | None:
    width, height = thumbnail.size
    if abs(width / height / shape - 1) <= THUMBNAIL_SHAPE_TOLERANCE:
        return thumbnail
    if shape > width / height:  # a wider photo: bands above and below
        inner = round(width / shape)
        box = (0, (height - inner) // 2, width, (height - inner) // 2 + inner)
    else:
        inner = round(height * shape)
        box = ((width - inner) // 2, 0, (width - inner) // 2 + inner, height)
    pixels = np.asarray(thumbnail.convert("L"))
    inside = np.zeros(pixels.shape, dtype=bool)
    # A pixel's margin: the picture's edge bleeds into the band through the JPEG compression.
    inside[max(0, box[1] - 1) : box[3] + 1, max(0, box[0] - 1) : box[2] + 1] = True
    bands = pixels[~inside]
    if inner < 1 or bands.size == 0 or int(bands.max()) > BLACK_BAND_LEVEL:
        return None  # not letterboxed: a stale or stretched thumbnail
    return thumbnail.crop(box)
