"""Examine one photo: EXIF first, so located photos are never decoded for the model, then decode;
and the picture's hashes, to find copies by (a located photo's from a small, reduced-scale decode).
Never raises.

Photos are examined in the local engine's DataLoader workers and in Ray's decode tasks. Nothing a
photo does may raise out of them, because one exception there would end the whole DataLoader (or
fail a task); every problem becomes an `error` on that photo's item instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from landmark_tag.files.discover import PhotoFile
from landmark_tag.files.images import (
    DEFAULT_MAX_PIXELS,
    EMPTY_FILE,
    DecodeError,
    describe_os_error,
    open_image,
    oriented,
    thumbnail_picture,
    to_rgb,
)
from landmark_tag.files.reads import PhotoReader, open_photo
from landmark_tag.files.throttling import throttled_answers
from landmark_tag.locating.copies import HASHED_SIDE, picture_hashes
from landmark_tag.locating.exif import CaptureTime, GpsFix, PhotoExif, read_exif, read_exif_pillow
from landmark_tag.pipeline.execute.decode import PhotoDecoder, exif_orientation, wants_device_decode
from landmark_tag.pipeline.resolve import ResolvedScan

logger = logging.getLogger(__name__)

# Formats whose EXIF exifread does not find; Pillow has parsed it by the time the header is read.
_PILLOW_EXIF_FORMATS = frozenset({"WEBP"})


@dataclass
class PhotoItem:
    """One photo after EXIF and decode: located (gps), failed (error), decoded (pixels), or, with
    --gpu-decode, a large JPEG left for the GPU to decode (jpeg bytes and EXIF orientation)."""

    photo: PhotoFile
    gps: GpsFix | None = None
    error: str | None = None
    taken: CaptureTime = field(default_factory=CaptureTime)  # from EXIF, located or not (see `exif`)
    camera: str | None = None
    pixels: torch.Tensor | None = None
    decoded: bool = False
    jpeg: torch.Tensor | None = None
    orientation: int = 1
    picture_hashes: str | None = None  # locating.copies; None where not asked for or not decodable
    bytes_read: int = 0  # of the file (files.reads)
    throttled: int = 0  # answers of the store that asked to slow down, each retried (files.throttling)
    shard: int = 0  # the shard it belongs to (see `shards`)


@contextlib.contextmanager
def messages_about(photo: PhotoFile) -> Iterator[None]:
    """Report what Pillow warns or logs while it reads one photo as a warning naming that photo,
    instead of letting it reach the terminal and the log file with no file name."""
    records: list[logging.LogRecord] = []
    collect = _Collect(records)
    pillow = logging.getLogger("PIL")
    pillow.addHandler(collect)
    propagate, pillow.propagate = pillow.propagate, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        pillow.removeHandler(collect)
        pillow.propagate = propagate
    for message in [record.getMessage() for record in records] + [str(w.message) for w in caught]:
        logger.warning("%s: %s", photo.path, message)


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass(frozen=True)
class Examiner:
    """How photos are examined: decoded by `decoder` (None: no landmark model, so only the EXIF is
    read, and the header checked); located ones (EXIF GPS) skipped unless `include_gps`; read with
    the inputs' fsspec options; with `device_jpeg_min_bytes`, JPEGs at least that large handed
    over as bytes for the GPU to decode (--gpu-decode); with `hash_pictures` (--copies), every
    readable photo's picture hashes taken (a photo too large to decode in `max_pixels` gets none)."""

    decoder: PhotoDecoder | None
    include_gps: bool = False
    storage_options: dict[str, Any] | None = None
    device_jpeg_min_bytes: int | None = None
    hash_pictures: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def for_scan(
        cls, scan: ResolvedScan, decoder: PhotoDecoder | None, device_jpeg_min_bytes: int | None = None
    ) -> Examiner:
        given = scan.given
        return cls(
            decoder,
            given.include_gps,
            given.storage_options,
            device_jpeg_min_bytes,
            given.copies,
            given.max_pixels,
        )

    def __call__(self, photo: PhotoFile) -> PhotoItem:
        """Read one photo's GPS and, unless it is located and skipped, its pixels. Never raises."""
        with messages_about(photo):
            return self._examine(photo)

    def _examine(self, photo: PhotoFile) -> PhotoItem:
        if photo.size_bytes == 0:
            return PhotoItem(photo, error=EMPTY_FILE)
        throttled = throttled_answers()
        try:
            reader = open_photo(photo.path, photo.size_bytes, self.storage_options)
        except OSError as exc:
            return PhotoItem(photo, error=describe_os_error(exc))
        with reader:
            item = self._examine_open(photo, reader)
            item.bytes_read = reader.bytes_read
        item.throttled = throttled_answers() - throttled
        return item

    def _examine_open(self, photo: PhotoFile, reader: PhotoReader) -> PhotoItem:
        decoder, include_gps = self.decoder, self.include_gps
        device_jpeg_min_bytes = self.device_jpeg_min_bytes
        exif = PhotoExif()
        hash_draft = HASHED_SIDE if self.hash_pictures else None
        try:
            exif = read_exif(reader.file, thumbnail=self.hash_pictures and not include_gps)
            if exif.gps is not None and not include_gps:
                return self._item(photo, exif, picture_hashes=self._located_hashes(reader, exif))
            file = reader.file
            file.seek(0)
            opened = decoder.open(file) if decoder else open_image(file, sys.maxsize, hash_draft)
            with opened as image:
                if image.format in _PILLOW_EXIF_FORMATS and exif == PhotoExif():
                    exif = read_exif_pillow(image)
                    if exif.gps is not None and not include_gps:
                        return self._item(photo, exif, picture_hashes=self._hashes(image))
                reader.read_whole()  # to be decoded: the rest of the file in one read
                if decoder is None:  # no model to look at it: decoded for its hashes only
                    return self._item(photo, exif, picture_hashes=self._hashes(image))
                if device_jpeg_min_bytes is not None and wants_device_decode(
                    image, photo.size_bytes, device_jpeg_min_bytes
                ):
                    orientation = exif_orientation(image)
                    file.seek(0)
                    jpeg = torch.frombuffer(bytearray(file.read()), dtype=torch.uint8)
                    # The hashes still need the CPU: a reduced-scale decode, a fraction of the full one.
                    hashes = self._hashes(image)
                    return self._item(photo, exif, jpeg=jpeg, orientation=orientation, picture_hashes=hashes)
                upright = to_rgb(oriented(image))
                hashes = self._hashes_of_upright(upright)
                pixels = decoder.tensor(upright)
        except DecodeError as exc:
            return self._item(photo, exif, error=str(exc))
        except OSError as exc:
            return self._item(photo, exif, error=describe_os_error(exc))
        except Exception as exc:  # a decoder bug must cost one photo, not the scan
            return self._item(photo, exif, error=f"unexpected error: {type(exc).__name__}: {exc}")
        return self._item(photo, exif, pixels=pixels, decoded=True, picture_hashes=hashes)

    def _located_hashes(self, reader: PhotoReader, exif: PhotoExif) -> str | None:
        """A photo located by its GPS: its hashes from its EXIF thumbnail, read with the EXIF, where
        the thumbnail shows the photo's picture (at most a few bits from the photo's own hashes);
        else from a reduced-scale decode of the whole file. None where it cannot be decoded (it
        stays located: its GPS is what matters)."""
        if not self.hash_pictures:
            return None
        try:
            reader.file.seek(0)
            with open_image(reader.file, sys.maxsize, HASHED_SIDE) as image:  # reads the header only
                if exif.thumbnail is not None:
                    picture = thumbnail_picture(exif.thumbnail, image.size, exif.orientation)
                    if picture is not None:
                        return self._hashes_of_upright(picture)
                reader.read_whole()
                return self._hashes(image)
        except Exception:  # broken pixels behind good EXIF: no hashes, nothing else lost
            return None

    def _hashes(self, image: Image.Image) -> str | None:
        """An opened photo's picture hashes, unless not asked for, too large or undecodable."""
        if not self.hash_pictures or image.width * image.height > self.max_pixels:
            return None
        try:
            return self._hashes_of_upright(to_rgb(oriented(image)))
        except (DecodeError, OSError):
            return None

    def _hashes_of_upright(self, upright: Image.Image) -> str | None:
        """A decoded picture's hashes, unless not asked for; a picture they cannot be taken of
        (a line of pixels) gets none, and keeps everything else."""
        if not self.hash_pictures:
            return None
        try:
            return picture_hashes(upright)
        except Exception:  # the hashes are an extra: they never cost a photo its row
            return None

    @staticmethod
    def _item(photo: PhotoFile, exif: PhotoExif, **fields: Any) -> PhotoItem:
        return PhotoItem(photo, gps=exif.gps, taken=exif.taken, camera=exif.camera, **fields)
