"""Plan: find the photos to scan, in a stable order, without following a symlink loop forever."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from landmark_tag.errors import LandmarkTagError
from landmark_tag.files.storage import check_url_exists, list_objects, on_disk

# Matched case-insensitively. HEIC/HEIF decode through pillow-heif.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif"})


class InputNotFoundError(LandmarkTagError, FileNotFoundError):
    """A path given to the scan does not exist."""


@dataclass(frozen=True, slots=True)  # one per photo: no __dict__ each
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


def _posix_time(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _discover_remote(
    url: str,
    recursive: bool,
    include_hidden: bool,
    extensions: frozenset[str],
    stats: DiscoveryStats,
    options,
) -> Iterator[PhotoFile]:
    """Photos under a bucket prefix (or one object), sorted by key. Objects have no symlinks to loop."""
    for info in sorted(list_objects(url, recursive, options), key=lambda i: i["name"]):
        name = os.path.basename(info["name"].rstrip("/"))
        if info.get("type") == "directory":
            continue
        if (not include_hidden and name.startswith(".")) or not is_photo_name(name, extensions):
            stats.ignored_files += not is_sidecar_name(name)
            continue
        modified = info.get("LastModified", info.get("mtime", info.get("last_modified", 0)))
        stats.photos += 1
        yield PhotoFile(info["name"], int(info["size"]), _posix_time(modified))


def is_photo_name(name: str, extensions: frozenset[str] = IMAGE_EXTENSIONS) -> bool:
    return os.path.splitext(name)[1].lower() in extensions


def is_sidecar_name(name: str) -> bool:
    """`IMG.jpg.xmp`: a photo's XMP sidecar (`--write-xmp` writes them), not a file the scan ignored."""
    stem, extension = os.path.splitext(name)
    return extension.lower() == ".xmp" and is_photo_name(stem)


def discover_photos(
    inputs: Iterable[str | os.PathLike],
    *,
    recursive: bool = True,
    include_hidden: bool = False,
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
    stats: DiscoveryStats | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Iterator[PhotoFile]:
    """Yield every photo under `inputs` (files or folders), each once, in a deterministic order.

    Folders are walked depth-first with entries sorted by name. Symlinks are followed, but a folder
    or file reached a second time (a loop, or two links to one place) is skipped. Hidden entries
    (names starting with '.', such as macOS `._IMG_0001.jpg` resource forks) are ignored unless
    `include_hidden`. Inputs may also be fsspec URLs (`s3://bucket/prefix`), listed by key.
    Raises InputNotFoundError before yielding anything if an input is missing.
    """
    stats = stats if stats is not None else DiscoveryStats()
    paths = [os.fspath(p) for p in inputs]
    _check_inputs_exist(paths, storage_options)
    walk = _LocalWalk(recursive, include_hidden, extensions, stats)
    seen_urls: set[str] = set()
    for item in paths:
        local = on_disk(item)
        if local is None:
            for found in _discover_remote(
                item, recursive, include_hidden, extensions, stats, storage_options
            ):
                if found.path not in seen_urls:
                    seen_urls.add(found.path)
                    yield found
        else:
            yield from walk.input(local)


def _check_inputs_exist(paths: list[str], storage_options: dict[str, Any] | None) -> None:
    for item in paths:
        local = on_disk(item)
        if local is None:
            check_url_exists(item, storage_options)  # says which: missing, refused or unreachable
        elif not Path(local).expanduser().exists():
            raise InputNotFoundError(f"no such file or folder: {item}")


@dataclass
class _LocalWalk:
    """Walks local inputs, remembering every file and folder seen (by device and inode), so that
    none is reached twice however the inputs overlap or links loop."""

    recursive: bool
    include_hidden: bool
    extensions: frozenset[str]
    stats: DiscoveryStats
    seen: set[tuple[int, int]] = field(default_factory=set)

    def input(self, item: str) -> Iterator[PhotoFile]:
        """One input on this machine's disk: a folder (walked) or a single file."""
        # Folders by their canonical names: a tree scanned through a symlink must give the same
        # paths, or an output would hold every photo twice. A file keeps its own name (a link's,
        # whose sidecar photo managers look for beside it).
        given = Path(item).expanduser().absolute()
        path = given.resolve() if given.is_dir() else given.parent.resolve() / given.name
        st = path.stat()
        if path.is_dir():
            if self.first_visit(st):
                yield from self.walk(str(path))
        elif not is_photo_name(path.name, self.extensions):
            self.stats.ignored_files += 1
        elif self.first_visit(st):
            yield self.photo(str(path), st)

    def first_visit(self, st: os.stat_result) -> bool:
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def photo(self, path: str, st: os.stat_result) -> PhotoFile:
        self.stats.photos += 1
        return PhotoFile(os.path.abspath(path), st.st_size, st.st_mtime)

    def walk(self, folder: str) -> Iterator[PhotoFile]:
        stats = self.stats
        try:
            with os.scandir(folder) as scanned:
                entries = sorted(scanned, key=lambda e: e.name)
        except OSError as exc:
            stats.unreadable.append(f"{folder}: {exc.strerror or exc}")
            return
        for entry in entries:
            if not self.include_hidden and entry.name.startswith("."):
                stats.ignored_files += 1
                continue
            try:
                is_dir = entry.is_dir()
                st = entry.stat() if (is_dir or is_photo_name(entry.name, self.extensions)) else None
            except PermissionError as exc:
                # The folder can be listed but not entered (no execute permission): none of its
                # entries can be opened, so say so once instead of skipping them silently.
                stats.unreadable.append(f"{folder}: cannot enter the folder ({exc.strerror or exc})")
                return
            except OSError:  # a dangling symlink, or a file that vanished mid-walk
                stats.ignored_files += 1
                continue
            if is_dir:
                if not self.recursive:
                    continue
                if st is not None and self.first_visit(st):
                    # Canonical folders all the way down: only a symlink leads to another name.
                    yield from self.walk(os.path.realpath(entry.path) if entry.is_symlink() else entry.path)
                else:
                    stats.skipped_links += 1
            elif st is None:
                stats.ignored_files += not is_sidecar_name(entry.name)
            elif self.first_visit(st):
                yield self.photo(entry.path, st)
            else:
                stats.skipped_links += 1
