"""Stage 1: find the photos to scan, in a stable order, without following a symlink loop forever."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from landmark_tag.errors import LandmarkTagError

# Matched case-insensitively. HEIC/HEIF decode through pillow-heif.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif"})


class InputNotFoundError(LandmarkTagError, FileNotFoundError):
    """A path given to the scan does not exist."""


@dataclass(frozen=True)
class PhotoFile:
    """A photo as found on disk: its absolute path, size and modification time (POSIX seconds)."""

    path: str
    size_bytes: int
    modified_at: float


@dataclass
class DiscoveryStats:
    """What the walk saw besides photos."""

    photos: int = 0
    ignored_files: int = 0  # not an image extension, or hidden
    skipped_links: int = 0  # symlinks back into a folder already walked, or to a file already found
    unreadable: list[str] = field(default_factory=list)  # folders or files that could not be listed


def is_photo_name(name: str, extensions: frozenset[str] = IMAGE_EXTENSIONS) -> bool:
    return os.path.splitext(name)[1].lower() in extensions


def discover_photos(
    inputs: Iterable[str | os.PathLike],
    *,
    recursive: bool = True,
    include_hidden: bool = False,
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
    stats: DiscoveryStats | None = None,
) -> Iterator[PhotoFile]:
    """Yield every photo under `inputs` (files or folders), each once, in a deterministic order.

    Folders are walked depth-first with entries sorted by name. Symlinks are followed, but a folder
    or file reached a second time (a loop, or two links to one place) is skipped. Hidden entries
    (names starting with '.', such as macOS `._IMG_0001.jpg` resource forks) are ignored unless
    `include_hidden`. Raises InputNotFoundError before yielding anything if an input is missing.
    """
    stats = stats if stats is not None else DiscoveryStats()
    paths = [Path(p).expanduser() for p in inputs]
    for path in paths:
        if not path.exists():
            raise InputNotFoundError(f"no such file or folder: {path}")
    seen: set[tuple[int, int]] = set()

    def first_visit(st: os.stat_result) -> bool:
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return False
        seen.add(key)
        return True

    def photo(path: str, st: os.stat_result) -> PhotoFile:
        stats.photos += 1
        return PhotoFile(os.path.abspath(path), st.st_size, st.st_mtime)

    def walk(folder: str) -> Iterator[PhotoFile]:
        try:
            with os.scandir(folder) as scanned:
                entries = sorted(scanned, key=lambda e: e.name)
        except OSError as exc:
            stats.unreadable.append(f"{folder}: {exc.strerror or exc}")
            return
        for entry in entries:
            if not include_hidden and entry.name.startswith("."):
                stats.ignored_files += 1
                continue
            try:
                is_dir = entry.is_dir()
                st = entry.stat() if (is_dir or is_photo_name(entry.name, extensions)) else None
            except OSError:  # a dangling symlink, or a file that vanished mid-walk
                stats.ignored_files += 1
                continue
            if is_dir:
                if not recursive:
                    continue
                if first_visit(st):
                    yield from walk(entry.path)
                else:
                    stats.skipped_links += 1
            elif st is None:
                stats.ignored_files += 1
            elif first_visit(st):
                yield photo(entry.path, st)
            else:
                stats.skipped_links += 1

    for path in paths:
        st = path.stat()
        if path.is_dir():
            if first_visit(st):
                yield from walk(str(path))
        elif not is_photo_name(path.name, extensions):
            stats.ignored_files += 1
        elif first_visit(st):
            yield photo(str(path), st)
