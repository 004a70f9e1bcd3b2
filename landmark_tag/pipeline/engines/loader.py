"""The local engine's DataLoader: worker processes examine the photos of the work's shards, in
batches of at most `batch_size` that never cross a shard, so each batch's rows belong to one part.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Sequence

from torch.utils.data import DataLoader, Dataset, Sampler

from landmark_tag.files.discover import PhotoFile
from landmark_tag.pipeline.engines.worker_loss import InProgress
from landmark_tag.pipeline.execute.batch import collate_photos
from landmark_tag.pipeline.execute.examine import Examiner, PhotoItem
from landmark_tag.pipeline.shards import Shard


class ShardPhotos(Dataset):
    """The photos of `shards`, in order, by position; each worker examines the ones it is given
    and, with `in_progress`, marks there the one it is reading."""

    def __init__(
        self, shards: Sequence[Shard], examiner: Examiner, in_progress: InProgress | None = None
    ) -> None:
        self.photos: list[tuple[int, PhotoFile]] = [(s.index, photo) for s in shards for photo in s.photos]
        self.examiner = examiner
        self.in_progress = in_progress

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, position: int) -> PhotoItem:
        shard, photo = self.photos[position]
        if self.in_progress is not None:
            self.in_progress.reading(position)
        item = self.examiner(photo)
        item.shard = shard
        if self.in_progress is not None:
            self.in_progress.done()
        return item


class ShardBatches(Sampler[list[int]]):
    """Positions of the shards' photos in batches of at most `size`, a shard's last one shorter."""

    def __init__(self, shards: Sequence[Shard], size: int) -> None:
        self.shards, self.size = shards, size

    def __iter__(self) -> Iterator[list[int]]:
        start = 0
        for shard in self.shards:
            end = start + len(shard.photos)
            for first in range(start, end, self.size):
                yield list(range(first, min(first + self.size, end)))
            start = end

    def __len__(self) -> int:
        return sum(-(-len(shard.photos) // self.size) for shard in self.shards)


def make_loader(
    shards: Sequence[Shard],
    examiner: Examiner,
    *,
    batch_size: int,
    workers: int,
    pin_memory: bool = False,
    in_progress: InProgress | None = None,
) -> DataLoader:
    """A DataLoader that yields the shards' photos as `PhotoBatch`es, in order."""
    return DataLoader(
        ShardPhotos(shards, examiner, in_progress),
        batch_sampler=ShardBatches(shards, batch_size),
        num_workers=workers,
        collate_fn=collate_photos,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers > 0 else None,
        worker_init_fn=_setup_worker if workers > 0 else None,
    )


def _setup_worker(worker_id: int) -> None:
    # Workers keep the scan's priority. Below it (nice 19 once), they filled the model's gaps no
    # better on an idle machine, and beside other work they starved (`benchmarks/perf/worker_priority.py`).
    # `nice landmark-tag scan` lowers the whole scan.
    # A SIGTERM sent to the whole process group (as systemd and Kubernetes do) is the main
    # process's to handle: it commits and shuts the workers down. A worker dying of it first would
    # only turn that clean stop into a "DataLoader worker killed" error.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # multiprocessing's resource sharer (the thread that hands a batch's shared memory to the main
    # process) reports its errors through sys.excepthook.
    sys.excepthook = _quiet_when_the_main_process_left


def _quiet_when_the_main_process_left(kind: type[BaseException], error: BaseException, trace) -> None:
    """When the main process stops (Ctrl-C, SIGTERM) in the middle of a hand-over, the hand-over's
    connection breaks. That is expected, and no traceback of it should reach the terminal or log."""
    if issubclass(kind, (ConnectionError, EOFError)):
        return
    sys.__excepthook__(kind, error, trace)
