"""The local engine: examine and decode in DataLoader worker processes, run the model in this one.

Every shard of the work streams through one `ShardTagger`, which commits each shard as its part.
A decode worker that dies (see `worker_loss`) costs the photos it had not handed over yet: they are
read again, in new shards, and the one it died on is read alone, in a worker of its own.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence

import torch

from landmark_tag.files.discover import PhotoFile
from landmark_tag.files.results import status_counts
from landmark_tag.files.storage import close_connections
from landmark_tag.host.process import prepare_inference_process
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.pipeline.engines.base import LANDMARKS_OFF_DEVICE, ExecutionResult, ScanWork, StageTiming
from landmark_tag.pipeline.engines.loader import make_loader
from landmark_tag.pipeline.engines.tag_shard import ShardResult, ShardTagger
from landmark_tag.pipeline.engines.worker_loss import (
    MAX_UNEXPLAINED_DEATHS,
    WORKER_DIED,
    DecodeWorkersDyingError,
    InProgress,
    half_made_iterator,
    is_worker_death,
    shut_down,
)
from landmark_tag.pipeline.execute.batch import PhotoBatch
from landmark_tag.pipeline.execute.decode import DEVICE_DECODE_MIN_BYTES, PhotoDecoder
from landmark_tag.pipeline.execute.examine import Examiner, PhotoItem
from landmark_tag.pipeline.execute.gpu_decode import DeviceJpegDecoder, decode_on_device
from landmark_tag.pipeline.execute.predict import Predictor
from landmark_tag.pipeline.execute.rows import batch_rows
from landmark_tag.pipeline.resolve import ResolvedScan
from landmark_tag.pipeline.shards import Shard, cut_shards
from landmark_tag.progress import PhotoProgress

logger = logging.getLogger(__name__)


class WorkerDied(Exception):
    """A decode worker died: rows were committed for the first `done` photos of the round, and the
    photos at `reading` (indices into it) were being read."""

    def __init__(self, done: int, reading: set[int]) -> None:
        super().__init__(f"decode worker died after {done} photos")
        self.done, self.reading = done, reading


class LocalEngine:
    def __init__(self, scan: ResolvedScan, loaded: LoadedModel | None) -> None:
        self.scan = scan
        self.device = torch.device(scan.device)
        self.predictor, decoder, self.device_decoder = None, None, None
        if loaded is not None and scan.inference is not None:
            # Built before the plan takes the lock: building the runtime's models may take a while
            # the first time, and a model that cannot run should fail before anything else.
            self.predictor = Predictor(loaded, self.device, scan.inference, spare_core=scan.spare_core)
            dtype = self.predictor.input_dtype
            decoder = PhotoDecoder(loaded.spec.preprocessing, max_pixels=scan.given.max_pixels, dtype=dtype)
            if scan.given.gpu_decode:
                self.device_decoder = DeviceJpegDecoder(loaded.spec.preprocessing, self.device, dtype)
        self.examiner = Examiner.for_scan(
            scan, decoder, DEVICE_DECODE_MIN_BYTES if scan.given.gpu_decode else None
        )

    def run(self, work: ScanWork, progress: PhotoProgress) -> ExecutionResult:
        scan = self.scan
        self.tagger = ShardTagger(self.predictor, work.journal)
        self.counts = status_counts()
        self.reads: Counter[str] = Counter()
        self.throttled = 0
        self.timing = StageTiming()
        self.next_shard = max((shard.index for shard in work.shards), default=-1) + 1
        # Process-wide settings: the thread count is put back afterwards (see `process`).
        threads_before = torch.get_num_threads()
        if self.predictor is not None:
            prepare_inference_process(self.device, scan.threads)
        loop_started = time.monotonic()
        try:
            self._tag_all(work, progress)
            # The rest of the loop's time went to the model (waiting for it, or making rows).
            timing = self.timing
            timing.model = time.monotonic() - loop_started - timing.waiting_for_photos - timing.writing
        finally:
            if self.predictor is not None:
                self.predictor.runner.close()
            torch.set_num_threads(threads_before)
        return ExecutionResult(
            counts=self.counts,
            device=self.predictor.runs_on if self.predictor is not None else LANDMARKS_OFF_DEVICE,
            timing=self.timing,
            reads=self.reads,
            throttled=self.throttled,
        )

    def _tag_all(self, work: ScanWork, progress: PhotoProgress) -> None:
        """Tag every shard of `work`, going on past decode workers that die."""
        shards = work.shards
        unexplained = 0
        while shards:
            try:
                self._tag(shards, work, progress, self.scan.workers)
                return
            except WorkerDied as died:
                pending = [photo for shard in shards for photo in shard.photos]
                suspects = [pending[i] for i in sorted(died.reading)]
                logger.warning(
                    "a decode process died (out of memory, or killed) after %d of %d photos; reading "
                    "%s again alone, then going on",
                    died.done,
                    len(pending),
                    ", ".join(photo.path for photo in suspects) or "no photo (none was being read)",
                )
                unexplained = 0 if suspects or died.done else unexplained + 1
                if unexplained >= MAX_UNEXPLAINED_DEATHS:
                    raise DecodeWorkersDyingError(
                        f"decode processes died {unexplained} times in a row while reading no photo "
                        "(killed from outside, or the machine is out of memory); the rows made so "
                        "far are committed for the next run"
                    ) from None
                for photo in suspects:
                    self._tag_alone(photo, work, progress)
                rest = [p for i, p in enumerate(pending) if i >= died.done and i not in died.reading]
                # New shard numbers: a shard cut short is committed already, under its own.
                shards = cut_shards(rest, self.scan.given.commit_rows, self.next_shard)
                self.next_shard += len(shards)

    def _tag_alone(self, photo: PhotoFile, work: ScanWork, progress: PhotoProgress) -> None:
        """Read one photo in a decode worker of its own; if that dies too, the photo is `failed`."""
        shard = Shard(self.next_shard, (photo,))
        self.next_shard += 1
        try:
            self._tag([shard], work, progress, workers=1, batch_size=1)
        except WorkerDied:
            logger.warning("%s: %s", photo.path, WORKER_DIED)
            item = PhotoItem(photo, error=WORKER_DIED, shard=shard.index)
            rows = batch_rows(PhotoBatch([item], None, shard.index), None, None, self.tagger.model_name)
            self._committed(self.tagger.commit(shard.index, rows), work)
            progress.advance(1)

    def _tag(
        self,
        shards: Sequence[Shard],
        work: ScanWork,
        progress: PhotoProgress,
        workers: int,
        batch_size: int | None = None,
    ) -> None:
        """Decode the shards' photos in `workers` processes, run the model and commit each shard, in
        order. Raises `WorkerDied` if a decode worker dies."""
        in_progress = InProgress(workers) if workers > 0 else None
        loader = make_loader(
            shards,
            self.examiner,
            batch_size=batch_size or self.scan.batch_for(self.device),
            workers=workers,
            pin_memory=self.device.type == "cuda",
            in_progress=in_progress,
        )
        loader_iterator = None
        done = 0

        def committed(result: ShardResult) -> None:
            nonlocal done
            done += sum(result.statuses.values())
            self._committed(result, work)

        if workers > 0:
            close_connections()  # the workers are forked: they must not inherit bucket connections
        try:
            # PyTorch reports a dead worker from a SIGCHLD handler, which may raise before iter()
            # has returned: so iter() is inside the try too.
            loader_iterator = iter(loader)
            batches = waited_for(loader_iterator, self.timing)
            if self.device_decoder is not None and self.examiner.decoder is not None:
                device_decoder, decoder = self.device_decoder, self.examiner.decoder
                batches = (decode_on_device(b, device_decoder, decoder) for b in batches)
            self.tagger.tag_shards(batches, committed, progress.advance)
        except (RuntimeError, ConnectionError, EOFError) as exc:
            if not is_worker_death(exc, loader_iterator) or in_progress is None:
                raise
            # A death while the iterator was being made leaves it only in the traceback's frames.
            shut_down(loader_iterator if loader_iterator is not None else half_made_iterator(exc))
            raise WorkerDied(done, in_progress.taken()) from None
        finally:
            if loader_iterator is not None:
                shut_down(loader_iterator)

    def _committed(self, result: ShardResult, work: ScanWork) -> None:
        work.heartbeat()
        self.timing.writing += result.writing_seconds
        self.counts.update(result.statuses)
        self.reads.update(result.reads)
        self.throttled += result.throttled


def waited_for(batches: Iterator[PhotoBatch], timing: StageTiming) -> Iterator[PhotoBatch]:
    """The decoded batches, adding the time spent waiting for each to `timing`."""
    while True:
        mark = time.monotonic()
        batch = next(batches, None)
        timing.waiting_for_photos += time.monotonic() - mark
        if batch is None:
            return
        yield batch
