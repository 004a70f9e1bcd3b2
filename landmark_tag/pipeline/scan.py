"""The scan orchestrator: wires discover -> (exif + decode in workers) -> predict -> write.

Under a lock on the output it lists the photos, works out which of them an earlier run already
tagged (see `incremental`), processes the rest batch by batch, committing the rows every 64 photos
as a part file, and finally merges the earlier output with the parts into the new output.
Pass `loaded_model` to reuse a model already in memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import torch

from landmark_tag.checkpoint import LoadedModel, default_model_path, load_model
from landmark_tag.errors import ConfigError
from landmark_tag.pipeline.batch import PhotoBatch, make_loader
from landmark_tag.pipeline.decode import DEFAULT_MAX_PIXELS, PhotoDecoder
from landmark_tag.pipeline.discover import DiscoveryStats, discover_photos
from landmark_tag.pipeline.gpu_decode import DEVICE_DECODE_MIN_BYTES, DeviceJpegDecoder, decode_on_device
from landmark_tag.pipeline.incremental import (
    DEFAULT_COMMIT_ROWS,
    PartJournal,
    check_k,
    count_rejudged,
    merge_output,
    plan_work,
    read_done,
)
from landmark_tag.pipeline.lock import OutputLock
from landmark_tag.pipeline.predict import Predictor, resolve_device, warn_without_landmark_score
from landmark_tag.pipeline.records import ResultRow, Status
from landmark_tag.pipeline.sidecar import SidecarStats, SidecarWriter
from landmark_tag.pipeline.storage import exists, remove_stale_staging_files
from landmark_tag.pipeline.write import output_format
from landmark_tag.progress import NoProgress, PhotoProgress

logger = logging.getLogger(__name__)


def default_workers() -> int:
    """Decode workers: one per core (inference runs in the main process alongside)."""
    return max(1, min(os.cpu_count() or 1, 8))


def default_threads(device: torch.device) -> int:
    """Inference threads on a CPU: half the cores, leaving the rest to the decode workers. On 2
    cores one inference thread scans as fast as two, on camera and web photos alike (README,
    Speed), so the second core is better left to decoding. On a GPU the CPU threads only feed it,
    and torch's default stays."""
    cores = os.cpu_count() or 1
    return max(1, cores // 2) if device.type == "cpu" else torch.get_num_threads()


def default_batch_size(device: torch.device) -> int:
    """Photos per batch. On a CPU, 8: it scans as fast as 16 (README, Speed) with less memory, and
    each decode worker fills a whole batch alone, so a small batch starts the model sooner and
    feeds it more evenly. A GPU wants large batches to be efficient."""
    return 64 if device.type == "cuda" else 8


@dataclass
class ScanConfig:
    inputs: list[str]
    out: str
    model: str | None = None  # checkpoint path; None means the default location `train` writes to
    k: int = 3
    batch_size: int | None = None  # None: default_batch_size() for the device
    workers: int | None = None  # None: default_workers(); 0 decodes in the main process
    threads: int | None = None  # inference threads; None: default_threads() for the device
    device: str = "auto"
    include_gps: bool = False  # also tag photos that EXIF GPS already locates
    recursive: bool = True
    include_hidden: bool = False
    output_format: str | None = None  # None: from the output's suffix
    full: bool = False  # ignore the earlier output and tag everything again
    prune: bool = False  # drop rows of photos no longer in the tree
    storage_options: dict | None = None  # fsspec options for URLs, e.g. {"endpoint_url": ...}
    min_confidence: float | None = None  # None: the threshold stored in the checkpoint
    min_landmark_score: float | None = None  # None: the threshold stored in the checkpoint
    precision: str = "auto"  # auto (bf16 where the hardware has it), fp32 or bf16
    commit_rows: int = DEFAULT_COMMIT_ROWS  # rows per crash-safe part file
    write_xmp: bool = False  # write an XMP sidecar beside each tagged photo
    gpu_decode: bool = False  # decode large JPEGs on the GPU (nvJPEG); needs a CUDA device
    max_pixels: int = DEFAULT_MAX_PIXELS  # most pixels a photo may decode to; larger ones fail


@dataclass
class StageTiming:
    """Where a scan's time went, in seconds: what to look at first when it is slow."""

    setup: float = 0.0  # model load, discovery, reading the earlier output
    waiting_for_photos: float = 0.0  # main process idle: decode workers are the bottleneck
    model: float = 0.0  # inference and building rows
    writing: float = 0.0  # committing part files (and writing sidecars)
    merging: float = 0.0  # writing the final output


@dataclass
class ScanSummary:
    output: str
    model: str
    device: str
    photos: int  # found in the tree
    processed: int  # tagged, skipped or failed in this run
    counts: dict[str, int]  # statuses of the processed photos
    new: int
    changed: int
    retried: int  # failed in an earlier run, tried again
    unchanged: int  # already in the output, not processed again
    removed: int  # in the earlier output, no longer in the tree
    pruned: bool  # whether removed photos' rows were dropped
    output_rows: int
    ignored_files: int
    elapsed_seconds: float
    min_confidence: float = 0.0  # the threshold this run used
    min_landmark_score: float | None = None  # the one this run used; None: the model has no score
    rejudged: int = 0  # rows kept from earlier runs whose status these thresholds changed
    sidecars: SidecarStats | None = None  # with --write-xmp
    unreadable: list[str] = field(default_factory=list)
    timing: StageTiming = field(default_factory=lambda: StageTiming())

    @property
    def photos_per_second(self) -> float:
        """Processing rate of this run."""
        return self.processed / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


def rows_for_batch(batch: PhotoBatch, predictor: Predictor, model_name: str) -> list[ResultRow]:
    """Predict the batch's decoded photos and turn every item into its output row."""
    top = predictor(batch.pixels) if batch.pixels is not None else None
    scanned_at = time.time()
    rows = []
    decoded_index = 0
    for item in batch.items:
        row = ResultRow(
            path=item.photo.path,
            status=Status.FAILED,
            size_bytes=item.photo.size_bytes,
            modified_at=item.photo.modified_at,
            scanned_at=scanned_at,
            model=model_name,
            error=item.error,
            gps_latitude=item.gps.latitude if item.gps else None,
            gps_longitude=item.gps.longitude if item.gps else None,
        )
        if item.decoded:
            indices, probabilities = top.indices[decoded_index], top.probabilities[decoded_index]
            if top.landmark_scores is not None:
                row.landmark_score = float(top.landmark_scores[decoded_index])
            row.status, place = predictor.judge(int(indices[0]), float(probabilities[0]), row.landmark_score)
            row.landmarks = [predictor.labels[i] for i in indices]
            row.probabilities = [float(p) for p in probabilities]
            if place is not None:
                row.estimated_latitude, row.estimated_longitude = place.latitude, place.longitude
                row.estimated_country = place.country
            decoded_index += 1
        elif item.error is None and item.gps is not None:
            row.status = Status.SKIPPED_GPS
        elif item.error is None:  # never expected: a photo neither decoded, located nor failed
            row.error = "not decoded"
        rows.append(row)
    return rows


def scan(
    config: ScanConfig,
    progress: PhotoProgress | None = None,
    *,
    loaded_model: LoadedModel | None = None,
) -> ScanSummary:
    """Tag every photo under `config.inputs` not already in `config.out`, one row per photo.

    Fatal problems (no model, a missing input, an unusable output, another scan on the same output)
    raise before any photo is read; problems with single photos become `failed` rows.
    """
    started = time.monotonic()
    progress = progress or NoProgress()
    storage = config.storage_options
    fmt = output_format(config.out, config.output_format)
    device = resolve_device(config.device)
    if config.gpu_decode and device.type != "cuda":
        raise ConfigError(
            "gpu_decode (--gpu-decode) needs a CUDA GPU to decode on (and --device auto or cuda)"
        )
    loaded = loaded_model or load_model(config.model or default_model_path())
    predictor = Predictor(
        loaded, device, config.k, config.min_confidence, config.precision, config.min_landmark_score
    )
    warn_without_landmark_score(loaded)
    with OutputLock(config.out, storage) as lock:
        remove_stale_staging_files(config.out)  # left by a merge that was killed
        stats = DiscoveryStats()
        # The file list is the only thing held for the whole tree; images and rows stream.
        photos = list(
            discover_photos(
                config.inputs,
                recursive=config.recursive,
                include_hidden=config.include_hidden,
                stats=stats,
                storage_options=storage,
            )
        )
        journal = PartJournal(config.out, predictor.k, storage, config.commit_rows)
        previous = None if config.full or not exists(config.out, storage) else config.out
        if config.full:
            journal.clear()
        elif discarded := journal.discard_other_k():
            logger.warning(
                "discarded %d part files that an interrupted run with another --k left in %s",
                discarded,
                journal.folder,
            )
        if previous is not None:
            check_k(previous, fmt, predictor.k, storage)
        sources = ([(previous, fmt)] if previous else []) + [(part, "parquet") for part in journal.existing()]
        plan = plan_work(photos, read_done(sources, storage))

        photo_decoder = PhotoDecoder(
            loaded.spec.preprocessing, max_pixels=config.max_pixels, dtype=predictor.input_dtype
        )
        device_decoder = (
            DeviceJpegDecoder(loaded.spec.preprocessing, device, predictor.input_dtype)
            if config.gpu_decode
            else None
        )
        loader = make_loader(
            plan.to_process,
            photo_decoder,
            batch_size=config.batch_size or default_batch_size(device),
            workers=default_workers() if config.workers is None else config.workers,
            include_gps=config.include_gps,
            pin_memory=device.type == "cuda",
            storage_options=storage,
            device_jpeg_min_bytes=DEVICE_DECODE_MIN_BYTES if config.gpu_decode else None,
        )
        sidecars = SidecarWriter(storage) if config.write_xmp else None
        counts: Counter[str] = Counter({status.value: 0 for status in Status})
        timing = StageTiming(setup=time.monotonic() - started)
        progress.start(len(plan.to_process))
        batches = iter(loader)
        threads_before = torch.get_num_threads()  # a process-wide setting: put it back afterwards
        torch.set_num_threads(config.threads or default_threads(device))
        try:
            while True:
                mark = time.monotonic()
                batch = next(batches, None)
                timing.waiting_for_photos += time.monotonic() - mark
                if batch is None:
                    break
                mark = time.monotonic()
                if device_decoder is not None:
                    batch = decode_on_device(batch, device_decoder, photo_decoder)
                rows = rows_for_batch(batch, predictor, loaded.name)
                timing.model += time.monotonic() - mark
                mark = time.monotonic()
                if sidecars is not None:  # before the commit: a crash in between redoes them, idempotently
                    sidecars.write(rows)
                journal.add(rows)  # once committed, a crash cannot lose these rows
                lock.heartbeat()
                timing.writing += time.monotonic() - mark
                counts.update(row.status.value for row in rows)
                progress.advance(len(rows))
        except BaseException:
            # Interrupted (Ctrl-C) or failed: keep the rows already made for the rerun, if we can.
            with contextlib.suppress(Exception):
                journal.flush()
            raise
        finally:
            torch.set_num_threads(threads_before)
        mark = time.monotonic()
        journal.flush()
        parts = journal.existing()
        drop = plan.removed if config.prune else set()
        judge = predictor.judge_settings
        rejudged = 0
        if parts or drop or previous is None or count_rejudged(previous, fmt, judge, storage):
            merged = merge_output(config.out, fmt, predictor.k, previous, parts, drop, storage, judge)
            output_rows, rejudged = merged.rows, merged.rejudged
        else:  # nothing new, nothing judged otherwise: the earlier output stays exactly as it is
            output_rows = plan.unchanged + len(plan.removed)
        journal.clear()
        timing.merging = time.monotonic() - mark
    logger.debug("stage seconds: %s", timing)
    return ScanSummary(
        output=config.out,
        model=loaded.name,
        device=f"{device} ({predictor.precision})",
        photos=len(photos),
        processed=len(plan.to_process),
        counts=dict(counts),
        new=plan.new,
        changed=plan.changed,
        retried=plan.retried,
        unchanged=plan.unchanged,
        removed=len(plan.removed),
        pruned=config.prune,
        output_rows=output_rows,
        ignored_files=stats.ignored_files,
        elapsed_seconds=time.monotonic() - started,
        min_confidence=predictor.min_confidence,
        min_landmark_score=predictor.min_landmark_score,
        rejudged=rejudged,
        sidecars=sidecars.stats if sidecars is not None else None,
        unreadable=stats.unreadable,
        timing=timing,
    )
