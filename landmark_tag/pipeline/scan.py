"""The scan orchestrator: wires discover -> (exif + decode in workers) -> predict -> write.

Each stage is built here from plain config and can be swapped: pass `loaded_model` to reuse a model
already in memory, or `writer_factory` to send rows somewhere else.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from landmark_tag.checkpoint import LoadedModel, default_model_path, load_model
from landmark_tag.pipeline.batch import PhotoBatch, make_loader
from landmark_tag.pipeline.decode import PhotoDecoder
from landmark_tag.pipeline.discover import DiscoveryStats, discover_photos
from landmark_tag.pipeline.predict import Predictor, resolve_device
from landmark_tag.pipeline.records import ResultRow, Status
from landmark_tag.pipeline.write import ResultWriter


def default_workers() -> int:
    """Decode workers: one per core (inference runs in the main process alongside)."""
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass
class ScanConfig:
    inputs: list[str]
    out: str
    model: str | None = None  # checkpoint path; None means the default location `train` writes to
    k: int = 3
    batch_size: int = 32
    workers: int | None = None  # None: default_workers(); 0 decodes in the main process
    device: str = "auto"
    include_gps: bool = False  # also tag photos that EXIF GPS already locates
    recursive: bool = True
    include_hidden: bool = False
    output_format: str | None = None  # None: from the output's suffix


@dataclass
class ScanSummary:
    output: str
    model: str
    device: str
    photos: int
    counts: dict[str, int]
    ignored_files: int
    elapsed_seconds: float
    unreadable: list[str] = field(default_factory=list)

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


class ScanProgress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, photos: int) -> None: ...


class _NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, photos: int) -> None:
        pass


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
            row.status = Status.TAGGED
            row.landmarks = [predictor.labels[i] for i in top.indices[decoded_index]]
            row.probabilities = [float(p) for p in top.probabilities[decoded_index]]
            decoded_index += 1
        elif item.error is None:
            row.status = Status.SKIPPED_GPS
        rows.append(row)
    return rows


def scan(
    config: ScanConfig,
    progress: ScanProgress | None = None,
    *,
    loaded_model: LoadedModel | None = None,
    writer_factory: Callable[..., ResultWriter] = ResultWriter,
) -> ScanSummary:
    """Tag every photo under `config.inputs` and write one row per photo to `config.out`.

    Fatal problems (no model, a missing input, an unwritable output) raise before any photo is read;
    problems with single photos become `failed` rows.
    """
    started = time.monotonic()
    progress = progress or _NoProgress()
    device = resolve_device(config.device)
    loaded = loaded_model or load_model(config.model or default_model_path())
    predictor = Predictor(loaded, device, config.k)
    stats = DiscoveryStats()
    # The file list is the only thing held for the whole tree; images and rows stream.
    photos = list(
        discover_photos(
            config.inputs, recursive=config.recursive, include_hidden=config.include_hidden, stats=stats
        )
    )
    loader = make_loader(
        photos,
        PhotoDecoder(loaded.spec.preprocessing),
        batch_size=config.batch_size,
        workers=default_workers() if config.workers is None else config.workers,
        include_gps=config.include_gps,
        pin_memory=device.type == "cuda",
    )
    counts: Counter[str] = Counter({status.value: 0 for status in Status})
    with writer_factory(config.out, predictor.k, config.output_format) as writer:
        progress.start(len(photos))
        for batch in loader:
            rows = rows_for_batch(batch, predictor, loaded.name)
            writer.write(rows)
            counts.update(row.status.value for row in rows)
            progress.advance(len(rows))
    return ScanSummary(
        output=str(writer.path),
        model=loaded.name,
        device=str(device),
        photos=len(photos),
        counts=dict(counts),
        ignored_files=stats.ignored_files,
        elapsed_seconds=time.monotonic() - started,
        unreadable=stats.unreadable,
    )
