"""Decode workers that die: which photo each was reading, and how the local engine goes on.

A decode worker can die without raising: the kernel's OOM killer (under a unit's `MemoryMax=`), a
`kill -9`, a crash in a native decoder. PyTorch's DataLoader then raises in the scan's process, but
leaves the surviving workers waiting for work that never comes, so the process would never exit.
The local engine therefore shuts its loaders down itself (`shut_down`), and each worker marks the
photo it is reading in shared memory (`InProgress`), so that the photos a death interrupted can be
read again, one at a time, each in a worker of its own: a photo that kills that worker too becomes a
`failed` row, and the scan goes on past it.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from torch.utils.data import get_worker_info

from landmark_tag.errors import LandmarkTagError

# What a photo that killed its decode process twice (the second time, alone) is told.
WORKER_DIED = (
    "the decode process died while reading this photo (out of memory, or killed); "
    "it was read again alone and died again"
)
# Deaths that no photo explains (a worker killed from outside) end the scan after this many.
MAX_UNEXPLAINED_DEATHS = 5
# A killed process closes its sockets before the kernel lets its parent see it dead: how long a
# broken pipe waits for a worker to be seen dead before it is taken for another fault.
DEATH_SETTLE_SECONDS = 2.0


class DecodeWorkersDyingError(LandmarkTagError):
    """Decode workers keep dying with no photo to blame: the machine, not a photo, is the problem."""


class InProgress:
    """One shared slot per DataLoader worker: the index of the photo it is reading, or -1."""

    def __init__(self, workers: int) -> None:
        self.slots = multiprocessing.Array("q", [-1] * max(1, workers), lock=False)

    def reading(self, index: int) -> None:
        info = get_worker_info()
        if info is not None:  # photos read in the scan's own process need no marking
            self.slots[info.id] = index

    def done(self) -> None:
        info = get_worker_info()
        if info is not None:
            self.slots[info.id] = -1

    def taken(self) -> set[int]:
        """The photos that workers were reading, emptying the slots."""
        found = {index for index in self.slots if index >= 0}
        for slot in range(len(self.slots)):
            self.slots[slot] = -1
        return found


def is_worker_death(exc: BaseException, loader_iterator: Any = None) -> bool:
    """Whether the DataLoader raised because one of its worker processes died: PyTorch says so
    (from its SIGCHLD handler, or when a read finds the worker gone), or, when the read came before
    PyTorch saw the worker gone, the pipe it was writing a batch into broke and a worker is dead."""
    if isinstance(exc, RuntimeError):
        return str(exc).startswith("DataLoader worker")
    if not isinstance(exc, (ConnectionError, EOFError)):
        return False
    workers = getattr(loader_iterator, "_workers", [])
    deadline = time.monotonic() + DEATH_SETTLE_SECONDS
    while not any(not w.is_alive() for w in workers):
        if not workers or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def shut_down(loader_iterator: Any) -> None:
    """Stop a DataLoader iterator's worker processes now. Left to the garbage collector, they
    outlive an exception whose traceback holds the iterator, and keep the process from exiting."""
    stop = getattr(loader_iterator, "_shutdown_workers", None)
    if stop is None:
        return
    try:
        stop()
    except RuntimeError as exc:
        # A death already being handled, reported again by SIGCHLD while the others stop; PyTorch
        # still terminates them on its way out.
        if not is_worker_death(exc):
            raise
