"""The local engine: examine and decode in DataLoader worker processes, run the model in this one.

Rows are committed through the plan's part journal every `commit_rows` photos, so an interrupted
scan keeps what it did. A decode worker that dies (see `worker_loss`) costs the photos it had not
handed over yet: they are read again, and the one it died on is read alone, in a worker of its own.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Iterator, Sequence

import torch

from landmark_tag.checkpoint import LoadedModel
from landmark_tag.pipeline.batch import PhotoBatch, PhotoItem, make_loader
from landmark_tag.pipeline.decode import DEVICE_DECODE_MIN_BYTES, PhotoDecoder
from landmark_tag.pipeline.discover import PhotoFile
from landmark_tag.pipeline.gpu_decode import DeviceJpegDecoder, decode_on_device
from landmark_tag.pipeline.predict import Predictor
from landmark_tag.pipeline.rows import batch_rows, predicted_rows
from landmark_tag.pipeline.scan_config import ExecutionResult, ScanConfig, ScanWork, StageTiming
from landmark_tag.pipeline.sidecar import SidecarWriter
from landmark_tag.pipeline.worker_loss import (
    MAX_UNEXPLAINED_DEATHS,
    WORKER_DIED,
    DecodeWorkersDyingError,
    InProgress,
    is_worker_death,
    shut_down,
)
from landmark_tag.process import (
    default_batch_size,
    default_threads,
    default_workers,
    prepare_inference_process,
)
from landmark_tag.progress import PhotoProgress
from landmark_tag.results import ResultRow, status_counts

logger = logging.getLogger(__name__)


class WorkerDied(Exception):
    """A decode worker died: rows were committed for the first `done` photos of the round, and the
    photos at `reading` (indices into it) were being read."""

    def __init__(self, done: int, reading: set[int]) -> None:
        super().__init__(f"decode worker died after {done} photos")
        self.done, self.reading = done, reading


class LocalExecutor:
    def __init__(self, config: ScanConfig, loaded: LoadedModel, predictor: Predictor) -> None:
        self.config = config
        self.loaded = loaded
        self.predictor = predictor
        self.device = predictor.device
        self.photo_decoder = PhotoDecoder(
            loaded.spec.preprocessing, max_pixels=config.max_pixels, dtype=predictor.input_dtype
        )
        self.device_decoder = (
            DeviceJpegDecoder(loaded.spec.preprocessing, self.device, predictor.input_dtype)
            if config.gpu_decode
            else None
        )

    def execute(self, work: ScanWork, progress: PhotoProgress) -> ExecutionResult:
        config, device = self.config, self.device
        self.sidecars = SidecarWriter(config.storage_options) if config.write_xmp else None
        self.counts = status_counts()
        self.timing = StageTiming()
        workers = default_workers() if config.workers is None else config.workers
        # Process-wide settings: the thread count is put back afterwards (see `process`).
        threads_before = prepare_inference_process(device, config.threads or default_threads(device))
        loop_started = time.monotonic()
        try:
            self._tag_all(work, progress, workers)
            # The rest of the loop's time went to the model (waiting for it, or making rows).
            timing = self.timing
            timing.model = time.monotonic() - loop_started - timing.waiting_for_photos - timing.writing
            work.journal.flush()
        except BaseException:
            # Interrupted (Ctrl-C) or failed: keep the rows already made for the rerun, if we can.
            with contextlib.suppress(Exception):
                work.journal.flush()
            raise
        finally:
            self.predictor.runner.close()
            torch.set_num_threads(threads_before)
        return ExecutionResult(
            counts=self.counts,
            device=self.predictor.runs_on,
            sidecars=self.sidecars.stats if self.sidecars is not None else None,
            timing=self.timing,
        )

    def _tag_all(self, work: ScanWork, progress: PhotoProgress, workers: int) -> None:
        """Tag every photo of `work`, going on past decode workers that die."""
        pending: list[PhotoFile] = list(work.photos)
        unexplained = 0
        while pending:
            try:
                self._tag(pending, work, progress, workers)
                return
            except WorkerDied as died:
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
                pending = [p for i, p in enumerate(pending) if i >= died.done and i not in died.reading]
                for photo in suspects:
                    self._tag_alone(photo, work, progress)

    def _tag_alone(self, photo: PhotoFile, work: ScanWork, progress: PhotoProgress) -> None:
        """Read one photo in a decode worker of its own; if that dies too, the photo is `failed`."""
        try:
            self._tag([photo], work, progress, workers=1, batch_size=1)
        except WorkerDied:
            logger.warning("%s: %s", photo.path, WORKER_DIED)
            item = PhotoItem(photo, error=WORKER_DIED)
            self._commit(batch_rows(PhotoBatch([item], None), None, self.predictor, self.loaded.name), work)
            progress.advance(1)

    def _tag(
        self,
        photos: Sequence[PhotoFile],
        work: ScanWork,
        progress: PhotoProgress,
        workers: int,
        batch_size: int | None = None,
    ) -> None:
        """Decode `photos` in `workers` processes, run the model and commit their rows, in order.
        Raises `WorkerDied` if a decode worker dies."""
        config = self.config
        in_progress = InProgress(workers) if workers > 0 else None
        loader = make_loader(
            photos,
            self.photo_decoder,
            batch_size=batch_size or config.batch_size or default_batch_size(self.device),
            workers=workers,
            include_gps=config.include_gps,
            pin_memory=self.device.type == "cuda",
            storage_options=config.storage_options,
            device_jpeg_min_bytes=DEVICE_DECODE_MIN_BYTES if config.gpu_decode else None,
            in_progress=in_progress,
        )
        loader_iterator = None
        done = 0
        try:
            # PyTorch reports a dead worker from a SIGCHLD handler, which may raise before iter()
            # has returned: so iter() is inside the try too.
            loader_iterator = iter(loader)
            batches = waited_for(loader_iterator, self.timing)
            if self.device_decoder is not None:
                device_decoder = self.device_decoder
                batches = (decode_on_device(b, device_decoder, self.photo_decoder) for b in batches)
            for rows in predicted_rows(batches, self.predictor, self.loaded.name):
                self._commit(rows, work)
                done += len(rows)
                progress.advance(len(rows))
        except RuntimeError as exc:
            if not is_worker_death(exc) or in_progress is None:
                raise
            if loader_iterator is None:
                # The iterator that was being made is held only by the traceback's frames: freed,
                # it shuts its workers down.
                traceback.clear_frames(exc.__traceback__)
            else:
                shut_down(loader_iterator)
            raise WorkerDied(done, in_progress.taken()) from None
        finally:
            if loader_iterator is not None:
                shut_down(loader_iterator)

    def _commit(self, rows: list[ResultRow], work: ScanWork) -> None:
        mark = time.monotonic()
        if self.sidecars is not None:  # before the commit: a crash in between redoes them, idempotently
            self.sidecars.write(rows)
        work.journal.add(rows)  # once committed, a crash cannot lose these rows
        work.heartbeat()
        self.timing.writing += time.monotonic() - mark
        self.counts.update(row.status.value for row in rows)


def waited_for(batches: Iterator[PhotoBatch], timing: StageTiming) -> Iterator[PhotoBatch]:
    """The decoded batches, adding the time spent waiting for each to `timing`."""
    while True:
        mark = time.monotonic()
        batch = next(batches, None)
        timing.waiting_for_photos += time.monotonic() - mark
        if batch is None:
            return
        yield batch
