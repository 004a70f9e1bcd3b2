"""The local engine: examine and decode in DataLoader worker processes, run the model in this one.

Rows are committed through the plan's part journal every `commit_rows` photos, so an interrupted
scan keeps what it did.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch

from landmark_tag.checkpoint import LoadedModel
from landmark_tag.pipeline.batch import PhotoBatch, make_loader
from landmark_tag.pipeline.decode import PhotoDecoder
from landmark_tag.pipeline.gpu_decode import DEVICE_DECODE_MIN_BYTES, DeviceJpegDecoder, decode_on_device
from landmark_tag.pipeline.predict import Predictor
from landmark_tag.pipeline.rows import predicted_rows
from landmark_tag.pipeline.scan_config import ExecutionResult, ScanConfig, ScanWork, StageTiming
from landmark_tag.pipeline.sidecar import SidecarWriter
from landmark_tag.process import (
    default_batch_size,
    default_threads,
    default_workers,
    prepare_inference_process,
)
from landmark_tag.progress import PhotoProgress
from landmark_tag.results import status_counts


class LocalExecutor:
    def __init__(self, config: ScanConfig, loaded: LoadedModel, predictor: Predictor) -> None:
        self.config = config
        self.loaded = loaded
        self.predictor = predictor
        self.device = predictor.device

    def execute(self, work: ScanWork, progress: PhotoProgress) -> ExecutionResult:
        config, predictor, device = self.config, self.predictor, self.device
        photo_decoder = PhotoDecoder(
            self.loaded.spec.preprocessing, max_pixels=config.max_pixels, dtype=predictor.input_dtype
        )
        device_decoder = (
            DeviceJpegDecoder(self.loaded.spec.preprocessing, device, predictor.input_dtype)
            if config.gpu_decode
            else None
        )
        loader = make_loader(
            work.photos,
            photo_decoder,
            batch_size=config.batch_size or default_batch_size(device),
            workers=default_workers() if config.workers is None else config.workers,
            include_gps=config.include_gps,
            pin_memory=device.type == "cuda",
            storage_options=config.storage_options,
            device_jpeg_min_bytes=DEVICE_DECODE_MIN_BYTES if config.gpu_decode else None,
        )
        sidecars = SidecarWriter(config.storage_options) if config.write_xmp else None
        counts = status_counts()
        timing = StageTiming()
        journal = work.journal
        batches = waited_for(iter(loader), timing)
        if device_decoder is not None:
            batches = (decode_on_device(batch, device_decoder, photo_decoder) for batch in batches)
        # Process-wide settings: the thread count is put back afterwards (see `process`).
        threads_before = prepare_inference_process(device, config.threads or default_threads(device))
        loop_started = time.monotonic()
        try:
            for rows in predicted_rows(batches, predictor, self.loaded.name):
                mark = time.monotonic()
                if sidecars is not None:  # before the commit: a crash in between redoes them, idempotently
                    sidecars.write(rows)
                journal.add(rows)  # once committed, a crash cannot lose these rows
                work.heartbeat()
                timing.writing += time.monotonic() - mark
                counts.update(row.status.value for row in rows)
                progress.advance(len(rows))
            # The rest of the loop's time went to the model (waiting for it, or making rows).
            timing.model = time.monotonic() - loop_started - timing.waiting_for_photos - timing.writing
            journal.flush()
        except BaseException:
            # Interrupted (Ctrl-C) or failed: keep the rows already made for the rerun, if we can.
            with contextlib.suppress(Exception):
                journal.flush()
            raise
        finally:
            predictor.runner.close()
            torch.set_num_threads(threads_before)
        return ExecutionResult(
            counts=counts,
            device=predictor.runs_on,
            sidecars=sidecars.stats if sidecars is not None else None,
            timing=timing,
        )


def waited_for(batches: Iterator[PhotoBatch], timing: StageTiming) -> Iterator[PhotoBatch]:
    """The decoded batches, adding the time spent waiting for each to `timing`."""
    while True:
        mark = time.monotonic()
        batch = next(batches, None)
        timing.waiting_for_photos += time.monotonic() - mark
        if batch is None:
            return
        yield batch
