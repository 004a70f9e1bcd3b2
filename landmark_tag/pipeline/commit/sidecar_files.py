"""Sidecar files (`--write-xmp`): which file is a photo's sidecar, reading one safely, and writing
many at once, each merged (sidecar.py) and published atomically; a failure costs that sidecar, not
the scan."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from landmark_tag.files.storage import (
    NotOurs,
    exists,
    publish,
    read_own_file,
    remove_file,
    staging_file,
)
from landmark_tag.pipeline.commit.sidecar import (
    MAX_SIDECAR_BYTES,
    SidecarError,
    SidecarTag,
    holds_nothing,
    merge_sidecar,
)

logger = logging.getLogger(__name__)


def sidecar_path(photo_path: str, storage_options: dict | None = None) -> str:
    """`IMG_1234.jpg.xmp`, unless only an `IMG_1234.xmp` already exists."""
    stem, dot, _ = photo_path.rpartition(".")
    own = f"{photo_path}.xmp"
    if dot and "/" not in photo_path[len(stem) :] and not exists(own, storage_options):
        for suffix in (".xmp", ".XMP"):
            if exists(stem + suffix, storage_options):
                return stem + suffix
    return own


def read_existing_sidecar(path: str, storage_options: dict | None = None) -> bytes | None:
    """The sidecar's bytes, None if there is none; SidecarError for anything that is not a sidecar
    to rewrite. Locally, only a regular, writable file is read: a FIFO would block the scan, a
    device or a link to one (/dev/zero) would never end, and a symbolic link or a read-only file
    says someone arranged it so; all are left alone."""
    try:
        content = read_own_file(path, MAX_SIDECAR_BYTES, storage_options)
    except NotOurs as exc:
        raise SidecarError(f"{path} {exc}; left alone") from None
    if content is None:
        return None
    if len(content) > MAX_SIDECAR_BYTES:
        raise SidecarError(
            f"{path} is over {MAX_SIDECAR_BYTES // 2**20} MiB, too large for a sidecar; left alone"
        )
    return content


def write_sidecar(photo_path: str, tag: SidecarTag, storage_options: dict | None = None) -> bool | None:
    """Merge `tag` into the photo's sidecar; return whether the file changed, or None where there is
    no sidecar and nothing to put in one. Raises SidecarError."""
    path = sidecar_path(photo_path, storage_options)
    try:
        existing = read_existing_sidecar(path, storage_options)
        nothing = tag.keyword is None and tag.country_code is None and tag.location_name is None
        if existing is None and tag.remove_location and nothing:
            return None  # nothing to take out: no sidecar is started for it
        content = merge_sidecar(existing, tag)
        if content == existing:  # idempotent: an unchanged sidecar is not rewritten
            return False
        if holds_nothing(content):  # no empty shell is left behind
            remove_file(path, storage_options)
            return True
        tmp = staging_file(path)
        try:
            with open(tmp, "wb") as handle:
                handle.write(content)
            publish(tmp, path, storage_options)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise SidecarError(f"cannot write {path}: {exc.strerror or exc}") from None
    return True


KEEP_PROBLEMS = 20  # sidecar problems kept for the summary; the log has them all
# Sidecars are small reads and writes: threads keep a bucket's round trips from adding up.
WRITE_THREADS = 8


@dataclass
class SidecarStats:
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)  # the first few, for the summary


class SidecarWriter:
    """Writes sidecars, counting what happened; a failure costs that sidecar, not the scan."""

    def __init__(self, storage_options: dict | None = None, keep_problems: int = KEEP_PROBLEMS) -> None:
        self.storage_options = storage_options
        self.keep_problems = keep_problems
        self.stats = SidecarStats()

    def write_tags(self, tags: Iterable[tuple[str, SidecarTag]], threads: int = WRITE_THREADS) -> None:
        """Merge each `(photo path, tag)` into that photo's sidecar (each photo at most once), in
        `threads` threads; a photo no longer there is passed over. Photos that may share a sidecar
        (`IMG_1.jpg` and `IMG_1.cr2` with only an `IMG_1.xmp`) are written one after the other, by
        one thread, so neither write loses the other's."""
        by_stem: dict[str, list[tuple[str, SidecarTag]]] = {}
        for path, tag in tags:
            by_stem.setdefault(path.rpartition(".")[0] or path, []).append((path, tag))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for outcomes in pool.map(self._write_in_turn, by_stem.values()):
                for path, outcome in outcomes:
                    self._count(path, outcome)

    def _write_in_turn(
        self, tags: list[tuple[str, SidecarTag]]
    ) -> list[tuple[str, bool | SidecarError | None]]:
        outcomes: list[tuple[str, bool | SidecarError | None]] = []
        for path, tag in tags:
            if not exists(path, self.storage_options):  # a row kept for a photo gone from the tree
                outcomes.append((path, None))
            else:
                outcomes.append((path, self._write(path, tag)))
        return outcomes

    def _write(self, path: str, tag: SidecarTag) -> bool | SidecarError | None:
        try:
            return write_sidecar(path, tag, self.storage_options)
        except SidecarError as exc:
            return exc

    def _count(self, path: str, outcome: bool | SidecarError | None) -> None:
        if isinstance(outcome, SidecarError):
            self.stats.failed += 1
            logger.warning("sidecar for %s: %s", path, outcome)
            if len(self.stats.problems) < self.keep_problems:
                self.stats.problems.append(f"{path}: {outcome}")
        elif outcome:
            self.stats.written += 1
        elif outcome is not None:
            self.stats.unchanged += 1
