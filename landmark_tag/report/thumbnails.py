"""Small JPEG thumbnails of scanned photos, made with the scan's fast decode path, in worker processes.

A photo that can no longer be read (moved, deleted, unreachable) gives a `Thumbnail` with an error
instead of an exception, and the report shows a placeholder for it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from PIL import Image
from torch.utils.data import DataLoader, Dataset

from landmark_tag.checkpoint import Preprocessing
from landmark_tag.pipeline.decode import DecodeError, PhotoDecoder, describe_os_error, to_rgb
from landmark_tag.pipeline.storage import open_binary

JPEG_QUALITY = 75


@dataclass(frozen=True)
class ThumbnailRequest:
    path: str
    size_bytes: int
    modified_us: int

    @property
    def key(self) -> str:
        """A file name for this version of the photo: a changed photo gets a new thumbnail."""
        text = f"{self.path}\0{self.size_bytes}\0{self.modified_us}"
        return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:20] + ".jpg"


@dataclass(frozen=True)
class Thumbnail:
    data: bytes | None = None  # JPEG bytes; None when cached on disk already, or on error
    error: str | None = None
    cached: bool = False  # already in the assets folder from an earlier report


def make_thumbnail(
    path: str, size: int, decoder: PhotoDecoder, storage_options: dict | None = None
) -> Thumbnail:
    """A JPEG of at most size x size pixels, upright. Never raises."""
    try:
        with open_binary(path, storage_options) as handle, decoder.open(handle) as image:
            picture = to_rgb(decoder.oriented(image))
            picture.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
            return Thumbnail(buffer.getvalue())
    except DecodeError as exc:
        return Thumbnail(error=str(exc))
    except OSError as exc:
        return Thumbnail(error=describe_os_error(exc))
    except Exception as exc:  # one odd photo must cost its thumbnail, not the report
        return Thumbnail(error=f"unexpected error: {type(exc).__name__}: {exc}")


class _ThumbnailDataset(Dataset):
    def __init__(
        self,
        requests: Sequence[ThumbnailRequest],
        size: int,
        assets_dir: str | None,
        storage_options: dict | None,
    ) -> None:
        self.requests = requests
        self.size = size
        self.assets_dir = assets_dir
        self.storage_options = storage_options
        # Draft-mode JPEG decoding at the smallest scale that still covers the thumbnail.
        self.decoder = PhotoDecoder(Preprocessing(input_size=size, resize_size=size))

    def __len__(self) -> int:
        return len(self.requests)

    def __getitem__(self, index: int) -> Thumbnail:
        request = self.requests[index]
        if self.assets_dir and os.path.exists(os.path.join(self.assets_dir, request.key)):
            return Thumbnail(cached=True)
        return make_thumbnail(request.path, self.size, self.decoder, self.storage_options)


def _as_list(items: list[Thumbnail]) -> list[Thumbnail]:
    return items


def iter_thumbnails(
    requests: Sequence[ThumbnailRequest],
    size: int,
    workers: int,
    assets_dir: str | None = None,
    storage_options: dict | None = None,
) -> Iterator[Thumbnail]:
    """Thumbnails of `requests`, in order, made by `workers` processes (0: in this one).

    The DataLoader keeps a bounded number of batches in flight, so memory does not grow with the
    number of photos.
    """
    if not requests:
        return
    loader = DataLoader(
        _ThumbnailDataset(requests, size, assets_dir, storage_options),
        batch_size=8,
        num_workers=workers,
        collate_fn=_as_list,
        prefetch_factor=2 if workers > 0 else None,
    )
    for batch in loader:
        yield from batch
