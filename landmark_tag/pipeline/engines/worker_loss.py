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
import traceback
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
    try:
        while not any(not w.is_alive() for w in workers):
            if not workers or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
    except RuntimeError as raised:  # the death itself, raised by SIGCHLD while this waited for it
        if not is_worker_death(raised):
            raise
    return True


# PyTorch's SIGCHLD handler raises a worker's death in the scan's main thread wherever it is: also
# between a queue's put taking the queue's lock and entering its `with` block, so that the lock is
# never released, and the shutdown's own put on that queue would wait for it for good. Held this
# long, a queue's lock is taken for one left so (the queue's feeder thread holds it for microseconds).
ORPHANED_LOCK_SECONDS = 1.0


def half_made_iterator(exc: BaseException) -> Any:
    """The DataLoader iterator whose making `exc` interrupted (a worker died while it started), found
    in the traceback's frames; None if there is none."""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        candidate = frame.f_locals.get("self")
        if hasattr(candidate, "_shutdown_workers"):
            return candidate
    return None


def shut_down(loader_iterator: Any) -> None:
    """Stop a DataLoader iterator's worker processes now (None: nothing to stop). Left to the
    garbage collector, they outlive an exception whose traceback holds the iterator, and keep the
    process from exiting."""
    stop = getattr(loader_iterator, "_shutdown_workers", None)
    if stop is None:
        return
    # A death already being handled is raised again by SIGCHLD, once per worker, wherever this is;
    # an interrupted shutdown still terminates the workers on its way out, and is tried again.
    for _ in range(len(getattr(loader_iterator, "_workers", [])) + 1):
        try:
            _release_orphaned_locks(loader_iterator)
            stop()
            return
        except RuntimeError as exc:
            if not is_worker_death(exc):
                raise


def _release_orphaned_locks(loader_iterator: Any) -> None:
    # Each queue the shutdown puts on (see ORPHANED_LOCK_SECONDS): nothing else will release it.
    queues = [
        *getattr(loader_iterator, "_index_queues", []),
        getattr(loader_iterator, "_worker_result_queue", None),
    ]
    for queue in queues:
        lock = getattr(queue, "_notempty", None)
        if lock is None:
            continue
        lock.acquire(timeout=ORPHANED_LOCK_SECONDS)
        lock.release()  # taken now, by this thread or by the put it interrupted
