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
from typing import Any, BinaryIO

from landmark_tag.files.storage import Fetch, byte_ranges

# The EXIF of a JPEG lives in its APP1 segment, at most 64 KiB, near the file's start.
HEAD_BYTES = 64 * 1024


class _FetchedBytes(io.RawIOBase):
    """A seekable, read-only raw file over a photo, fetched from its start as far as it is read."""

    def __init__(self, fetch: Fetch, size: int) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size  # as listed: where to stop growing the head (the whole is read to its end)
        self.data = bytearray()
        self.position = 0
        self.whole = False  # the next fetch fetches the rest
        self.at_end = False  # the whole file is fetched

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:  # where the listing says it ends, until the end is fetched
            offset += len(self.data) if self.at_end else self._size
        elif whence == io.SEEK_CUR:
            offset += self.position
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        self.position = offset
        return offset

    def readinto(self, buffer: Any) -> int:
        # What is fetched first; a fetch only when nothing is left (the buffered file above asks
        # again for the rest), so that its read-ahead never fetches bytes no one wants.
        # Views released on the way out, not when collected: a frame kept alive (a profiler's or a
        # monitor's stack snapshot) would keep `data` exported, and then it could not grow.
        with memoryview(buffer) as given, given.cast("B") as view:
            if self.position >= len(self.data):
                self._fetch_to(self.position + len(view))
            end = self.position + len(view)
            with memoryview(self.data) as data, data[self.position : end] as chunk:
                view[: len(chunk)] = chunk
                self.position += len(chunk)
                return len(chunk)

    def _fetch_to(self, end: int) -> None:
        have = len(self.data)
        if self.at_end or end <= have:
            return
        wanted: int | None = None
        if not self.whole:  # the head, then twice as much each time, never past the listed size
            wanted = max(end, HEAD_BYTES, 2 * have)
            wanted = wanted if wanted < self._size else None
        data = self._fetch(have, wanted)
        self.data += data
        self.at_end = wanted is None or len(data) < wanted - have


class PhotoReader:
    """A photo's file, fetched from its start as far as `file` is read (see the module)."""

    def __init__(self, fetch: Fetch, size: int, close: Callable[[], None] | None = None) -> None:
        self._raw = _FetchedBytes(fetch, size)
        self._close = close
        # Buffered: EXIF and JPEG headers are read a few bytes at a time.
        self.file: BinaryIO = io.BufferedReader(self._raw)

    @property
    def bytes_read(self) -> int:
        return len(self._raw.data)

    def read_whole(self) -> None:
        """The next read past the bytes fetched fetches the rest of the file, in one request."""
        self._raw.whole = True

    def close(self) -> None:
        self.file.close()
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> PhotoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_photo(path: str, size: int, storage_options: dict[str, Any] | None = None) -> PhotoReader:
    """`path` (local or a URL) of `size` bytes as listed, to be read as far as needed."""
    fetch, close = byte_ranges(path, storage_options)
    return PhotoReader(fetch, size, close)
