"""Reading a photo's bytes only as far as they are needed.

A photo is first read by its head (HEAD_BYTES): the EXIF is there, and for a photo located by its
own GPS nothing more is wanted (its picture hashes come from the EXIF thumbnail). A read past what
was fetched fetches more, twice as much each time, so a long EXIF block costs a request or two. A
photo to decode is read in full once the examiner says so (`read_whole`): the rest in one request,
every byte fetched once. In a bucket each fetch is one ranged GET (fsspec's `cat_file`); before,
fsspec read ahead in 50 MB blocks and so fetched every photo whole.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from landmark_tag.files.storage import Fetch, byte_ranges

# The EXIF of a JPEG lives in its APP1 segment, at most 64 KiB, near the file's start.
HEAD_BYTES = 64 * 1024


class PhotoReader(io.RawIOBase):
    """A seekable, read-only file over a photo, fetched from its start as far as it is read."""

    def __init__(self, fetch: Fetch, size: int, close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size  # as listed: where to stop growing the head (the whole is read to its end)
        self._on_close = close
        self._data = bytearray()
        self._position = 0
        self._whole = False
        self._at_end = False  # the whole file is fetched
        self.requests = 0

    @property
    def bytes_read(self) -> int:
        return len(self._data)

    @property
    def file(self) -> BinaryIO:
        """This reader, typed as the binary file that Pillow and exifread take."""
        return cast(BinaryIO, self)

    def read_whole(self) -> None:
        """The next read past the bytes fetched fetches the rest of the file, in one request."""
        self._whole = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:  # where the listing says it ends, until the end is fetched
            offset += len(self._data) if self._at_end else self._size
        elif whence == io.SEEK_CUR:
            offset += self._position
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        self._position = offset
        return offset

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        self._fetch_to(self._position + len(view))
        chunk = memoryview(self._data)[self._position : self._position + len(view)]
        view[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()

    def _fetch_to(self, end: int | None) -> None:
        have = len(self._data)
        if self._at_end or (end is not None and end <= have):
            return
        if self._whole:
            wanted = None
        else:  # the head, then twice as much each time, never past the listed size
            wanted = max(end or 0, HEAD_BYTES, 2 * have)
            wanted = wanted if wanted < self._size else None
        data = self._fetch(have, wanted)
        self.requests += 1
        self._data += data
        self._at_end = wanted is None or len(data) < wanted - have


def open_photo(path: str, size: int, storage_options: dict[str, Any] | None = None) -> PhotoReader:
    """`path` (local or a URL) of `size` bytes as listed, to be read as far as needed."""
    fetch, close = byte_ranges(path, storage_options)
    return PhotoReader(fetch, size, close)
