"""Small JPEG thumbnails of scanned photos, made with the scan's fast decode path (Pillow only, with
JPEG draft mode and EXIF orientation), in worker processes.

A photo that can no longer be read (moved, deleted, unreachable) gives a `Thumbnail` with an error
instead of an exception, and the report shows a placeholder for it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import itertools
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from landmark_tag.files.images import DecodeError, describe_os_error, load_rgb, register_heif
from landmark_tag.files.results import to_micros
from landmark_tag.files.storage import open_binary, staging_file

JPEG_QUALITY = 75
IN_FLIGHT_PER_WORKER = 8  # thumbnails queued per worker: enough to keep it busy, little memory


@dataclass(frozen=True)
class ThumbnailRequest:
    path: str
    size_bytes: int
    modified_us: int

    @classmethod
    def of_row(cls, row: dict) -> ThumbnailRequest:
        """The request for an output row (path, size_bytes, modified_at)."""
        modified = row["modified_at"].timestamp() if row["modified_at"] else 0.0
        return cls(row["path"], row["size_bytes"] or 0, to_micros(modified))

    @property
    def key(self) -> str:
        """A file name for this version of the photo: a changed photo gets a new thumbnail."""
        text = f"{self.path}\0{self.size_bytes}\0{self.modified_us}"
        return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:20] + ".jpg"


@dataclass(frozen=True)
class Thumbnail:
    key: str  # the request's key: its file name in an assets folder
    data: bytes | None = None  # JPEG bytes; None when cached on disk already, or on error
    error: str | None = None
    cached: bool = False  # already in the assets folder from an earlier report


def make_thumbnail(
    request: ThumbnailRequest, size: int, assets_dir: str | None = None, storage_options: dict | None = None
) -> Thumbnail:
    """A JPEG of at most size x size pixels, upright, decoded at reduced scale. Never raises."""
    if assets_dir and os.path.exists(os.path.join(assets_dir, request.key)):
        return Thumbnail(request.key, cached=True)
    register_heif()
    try:
        with open_binary(request.path, storage_options) as handle:
            picture = load_rgb(handle, draft_size=size)
            picture.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
            return Thumbnail(request.key, buffer.getvalue())
    except DecodeError as exc:
        return Thumbnail(request.key, error=str(exc))
    except OSError as exc:
        return Thumbnail(request.key, error=describe_os_error(exc))
    except Exception as exc:  # one odd photo must cost its thumbnail, not the report
        return Thumbnail(request.key, error=f"unexpected error: {type(exc).__name__}: {exc}")


def iter_thumbnails(
    requests: Iterable[ThumbnailRequest],
    size: int,
    workers: int,
    assets_dir: str | None = None,
    storage_options: dict | None = None,
) -> Iterator[Thumbnail]:
    """Thumbnails of `requests`, in order, made by `workers` processes (0: in this one).

    Only a few thumbnails per worker are in flight at a time, so memory does not grow with the
    number of photos.
    """
    make = functools.partial(
        make_thumbnail, size=size, assets_dir=assets_dir, storage_options=storage_options
    )
    if workers == 0:
        yield from map(make, requests)
        return
    pending = iter(requests)
    with ProcessPoolExecutor(workers) as pool:
        in_flight = deque(
            pool.submit(make, r) for r in itertools.islice(pending, workers * IN_FLIGHT_PER_WORKER)
        )
        while in_flight:
            done = in_flight.popleft()
            following = next(pending, None)
            if following is not None:
                in_flight.append(pool.submit(make, following))
            yield done.result()


class ImageSink:
    """Turns a thumbnail into an <img> source: a data URI, or a file in the assets folder."""

    def __init__(self, assets_dir: str | None, report_path: str) -> None:
        self.assets_dir = assets_dir
        self.relative = None
        if assets_dir:
            os.makedirs(assets_dir, exist_ok=True)
            base = os.path.dirname(os.path.abspath(report_path))
            self.relative = os.path.relpath(os.path.abspath(assets_dir), base).replace(os.sep, "/")

    def source(self, thumbnail: Thumbnail) -> str | None:
        if thumbnail.error is not None or thumbnail.data is None:
            return None
        if self.assets_dir is None:
            return "data:image/jpeg;base64," + base64.b64encode(thumbnail.data).decode("ascii")
        if not thumbnail.cached:
            target = os.path.join(self.assets_dir, thumbnail.key)
            tmp = staging_file(target)
            Path(tmp).write_bytes(thumbnail.data)
            os.replace(tmp, target)
        return f"{self.relative}/{thumbnail.key}"
