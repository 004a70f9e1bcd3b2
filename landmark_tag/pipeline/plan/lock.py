"""One scan per output at a time.

Locally, `<out>.lock` is held with a POSIX record lock (fcntl F_SETLK): the kernel releases it when
the process dies, however it dies, so a lock left by a crash is never mistaken for a running scan.
Unlike flock, the lock belongs to the scan's process alone: the decode workers it forks do not share
it, so a worker that outlives a killed scan (stuck on a read) cannot keep the next scan out. A POSIX
lock does not keep out the process that holds it, and closing any handle to the file drops it, so
the process also keeps the set of lock files it holds (`_HELD_HERE`) and refuses a second scan of the
same output before it opens the file. A bucket has no flock, so
there the lock is an object holding its owner, a random token and a heartbeat that the scan
refreshes while it runs. Every write of it is conditional, so that two scans can never both hold
it: taking it creates the object only if there is none (`If-None-Match: *`), and a heartbeat or a
takeover replaces it only if it is still the object that was read (`If-Match: <ETag>`). S3, MinIO,
R2 and GCS honour these conditions; a store that ignores them cannot give an exclusive lock, which
the scan detects and warns about.

A lock object is stale, and taken over, when its last sign of life (the earlier of its heartbeat
and the time the store last wrote it, so a heartbeat in the future counts for nothing) is older
than `stale_after` seconds, or at once when its owner ran on this machine and that process is
gone. An object that landmark-tag did not write (not its JSON) is judged by its write time alone.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from typing import Any

from landmark_tag.errors import LandmarkTagError
from landmark_tag.files.storage import filesystem, on_disk
from landmark_tag.files.throttling import throttled_answers
from landmark_tag.pipeline.target import OutputTarget

logger = logging.getLogger(__name__)


class ScanLockedError(LandmarkTagError):
    """Another scan is writing the same output."""


# The local lock files this process holds (their real paths): a per-process fact, as POSIX locks are.
_HELD_HERE: set[str] = set()
_HELD_HERE_GUARD = threading.Lock()


def _owner() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "heartbeat": time.time(),
        "token": secrets.token_hex(8),
    }


def _parse_owner(content: bytes) -> dict[str, Any] | None:
    """The lock's owner, or None for an object that is not a lock landmark-tag wrote."""
    try:
        owner = json.loads(content)
    except ValueError:
        return None
    if not isinstance(owner, dict) or not isinstance(owner.get("heartbeat"), (int, float)):
        return None
    return owner if math.isfinite(owner["heartbeat"]) else None


def _describe(owner: dict[str, Any]) -> str:
    who = f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}"
    if owner.get("started") is None and "pid" in owner:
        return f"{who}: this process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.get("started", 0)))
    return f"{who}, since {started}"


def _dead_here(owner: dict[str, Any]) -> bool:
    """True when the owner ran on this machine and its process no longer exists."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


class OutputLock:
    def __init__(self, target: OutputTarget, stale_after: float = 900.0) -> None:
        self.path = f"{target.path}.lock"
        self.out = target.path
        self.storage_options = target.storage_options
        self.stale_after = stale_after
        self._on_disk = on_disk(self.path)  # None: an object in a bucket, locked by conditional writes
        self._fd: int | None = None
        self._held = ""  # the lock file's real path, while this process holds it
        self._last_beat = 0.0
        self.throttled = 0  # the store's slow-down answers to the heartbeats (files.throttling)

    def __enter__(self) -> OutputLock:
        if self._on_disk is None:
            self._acquire_remote()
        else:
            self._acquire_local(self._on_disk)
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def _refused(self, owner: dict[str, Any]) -> ScanLockedError:
        if owner and _dead_here(owner):  # a process it left behind holds it, not the scan named
            return ScanLockedError(
                f"{self.path} is held by a process that the scan of {self.out} ({_describe(owner)}, no"
                " longer running) left behind; wait for it to end, or end it, and run again"
            )
        return ScanLockedError(
            f"another scan is writing {self.out} ({_describe(owner)}); it holds {self.path}. "
            "Wait for it to finish, or use another --out."
        )

    def _acquire_local(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        held = os.path.realpath(path)
        with _HELD_HERE_GUARD:
            if held in _HELD_HERE:
                raise self._refused({"pid": os.getpid(), "host": socket.gethostname(), "started": None})
            _HELD_HERE.add(held)
        try:
            self._lock_file(path)
        except BaseException:
            with _HELD_HERE_GUARD:
                _HELD_HERE.discard(held)
            raise
        self._held = held

    def _lock_file(self, path: str) -> None:
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # EACCES or EAGAIN: held by a live process
                try:
                    owner = json.loads(os.read(fd, 4096) or b"{}")
                except ValueError:
                    owner = {}
                os.close(fd)
                raise self._refused(owner) from None
            # The holder we waited on may have unlinked the file before we locked our handle to it.
            try:
                same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_owner()).encode())
        self._fd = fd

    def _acquire_remote(self) -> None:
        fs, inner = filesystem(self.path, self.storage_options)
        owner = _owner()
        content = json.dumps(owner).encode()
        try:
            fs.pipe_file(inner, content, IfNoneMatch="*")  # only if no scan holds it
        except FileExistsError:
            self._take_over_if_stale(fs, inner, content)
        else:
            self._warn_if_conditions_are_ignored(fs, inner, content)
        self._owner, self._etag = owner, fs.info(inner).get("ETag")
        self._last_beat = time.monotonic()

    def _take_over_if_stale(self, fs, inner: str, content: bytes) -> None:
        try:
            info = fs.info(inner)
            existing = fs.cat_file(inner)[:4096]
        except FileNotFoundError:  # released meanwhile: try once more from the start
            try:
                fs.pipe_file(inner, content, IfNoneMatch="*")
            except FileExistsError:
                raise self._refused({}) from None
            return
        owner = _parse_owner(existing)
        written = info["LastModified"].timestamp() if info.get("LastModified") else 0.0
        last_alive = min(written, owner["heartbeat"]) if owner else written
        if time.time() - last_alive < self.stale_after and not (owner and _dead_here(owner)):
            if owner is None:
                raise ScanLockedError(
                    f"{self.path} exists but is not a lock landmark-tag wrote ({existing[:60]!r}); if no "
                    f"scan is writing {self.out}, remove it, or wait {self.stale_after / 60:.0f} minutes "
                    "after its last change and it is taken over"
                )
            raise self._refused(owner)
        try:  # replace exactly the stale object we read: of two scans taking it over, one wins
            fs.pipe_file(inner, content, IfMatch=info["ETag"])
        except OSError:
            raise self._refused(owner or {}) from None

    def _warn_if_conditions_are_ignored(self, fs, inner: str, content: bytes) -> None:
        """A second create-only write of the object we just made must fail; if it does not, this
        store ignores conditional writes, and two scans could hold the lock at once."""
        try:
            fs.pipe_file(inner, content, IfNoneMatch="*")
        except FileExistsError:
            return
        logger.warning(
            "the store behind %s ignores conditional writes (If-None-Match), so the lock cannot keep a "
            "second scan of the same output from running: make sure only one runs at a time",
            self.out,
        )

    def heartbeat(self) -> None:
        """Refresh a bucket lock (at most once a minute); a no-op for local locks. Raises
        ScanLockedError if another scan has taken the lock over (this one was judged stale)."""
        if self._on_disk is not None or time.monotonic() - self._last_beat <= 60:
            return
        fs, inner = filesystem(self.path, self.storage_options)
        self._owner = {**self._owner, "heartbeat": time.time()}
        before = throttled_answers()  # the engine runs meanwhile: no step counts these but this
        try:
            fs.pipe_file(inner, json.dumps(self._owner).encode(), IfMatch=self._etag)
        except (OSError, FileNotFoundError):
            self._last_beat = 0.0  # not ours any more: release must not delete it
            raise ScanLockedError(
                f"another scan took over {self.path} while this one ran (it was judged stale); "
                "stopping, with the rows made so far committed"
            ) from None
        finally:
            self.throttled += throttled_answers() - before
        self._etag = fs.info(inner).get("ETag")
        self._last_beat = time.monotonic()

    def release(self) -> None:
        if self._fd is not None and self._on_disk is not None:
            os.unlink(self._on_disk)
            os.close(self._fd)  # closing drops the lock
            self._fd = None
            with _HELD_HERE_GUARD:
                _HELD_HERE.discard(self._held)
        elif self._on_disk is None and self._last_beat:
            self._last_beat = 0.0
            fs, inner = filesystem(self.path, self.storage_options)
            try:  # delete only a lock that is still ours
                owner = _parse_owner(fs.cat_file(inner)[:4096])
            except FileNotFoundError:
                return
            if owner is not None and owner.get("token") == self._owner["token"]:
                fs.rm_file(inner)
