"""One scan per output at a time.

Locally, `<out>.lock` is held with flock: the kernel releases it when the process dies, however it
dies, so a lock left by a crash is never mistaken for a running scan. A bucket has no flock, so
there the lock is an object holding its owner and a heartbeat that the scan refreshes while it
runs. It is stale, and taken over, when its heartbeat is older than `stale_after` seconds, or at
once when its owner ran on this machine and that process is gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from typing import Any

from landmark_tag.errors import LandmarkTagError
from landmark_tag.pipeline.storage import filesystem, is_url, local_path


class ScanLockedError(LandmarkTagError):
    """Another scan is writing the same output."""


def _owner() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "heartbeat": time.time(),
    }


def _describe(owner: dict[str, Any]) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.get("started", 0)))
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}, since {started}"


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
    def __init__(self, out: str, storage_options: dict | None = None, stale_after: float = 900.0) -> None:
        self.path = f"{out}.lock"
        self.out = out
        self.storage_options = storage_options
        self.stale_after = stale_after
        self._fd: int | None = None
        self._last_beat = 0.0

    def __enter__(self) -> OutputLock:
        if is_url(self.path):
            self._acquire_remote()
        else:
            self._acquire_local()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def _refused(self, owner: dict[str, Any]) -> ScanLockedError:
        return ScanLockedError(
            f"another scan is writing {self.out} ({_describe(owner)}); it holds {self.path}. "
            "Wait for it to finish, or use another --out."
        )

    def _acquire_local(self) -> None:
        path = local_path(self.path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
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
        if fs.exists(inner):
            try:
                owner = json.loads(fs.cat_file(inner))
            except (ValueError, OSError):
                owner = {}
            if time.time() - owner.get("heartbeat", 0) < self.stale_after and not _dead_here(owner):
                raise self._refused(owner)
        self._write_remote(_owner())

    def _write_remote(self, owner: dict[str, Any]) -> None:
        fs, inner = filesystem(self.path, self.storage_options)
        fs.pipe_file(inner, json.dumps(owner).encode())
        self._owner = owner
        self._last_beat = time.monotonic()

    def heartbeat(self) -> None:
        """Refresh a bucket lock (at most once a minute); a no-op for local locks."""
        if self._fd is None and is_url(self.path) and time.monotonic() - self._last_beat > 60:
            self._write_remote({**self._owner, "heartbeat": time.time()})

    def release(self) -> None:
        if self._fd is not None:
            os.unlink(local_path(self.path))
            os.close(self._fd)  # closing drops the flock
            self._fd = None
        elif is_url(self.path) and self._last_beat:
            fs, inner = filesystem(self.path, self.storage_options)
            fs.rm_file(inner)
            self._last_beat = 0.0
