"""The Ray engine's two stages, as Ray Data runs them (see `ray_executor`).

- `ExamineShard`, a CPU task: a shard's photos -> examined items and stacked pixels;
- `ShardTagger`, an actor with one model: a decoded shard -> rows, sidecars, and one part file
  named after the shard, so a retried shard replaces its part instead of adding rows.

Both only call the stage code the local engine uses (`examine_photo`, `Predictor`, `predicted_rows`,
`SidecarWriter`, `PartJournal`).
"""

from __future__ import annotations

import pickle
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from landmark_tag.checkpoint import LoadedModel
from landmark_tag.pipeline.batch import collate_photos, examine_photo, split_batch
from landmark_tag.pipeline.decode import PhotoDecoder
from landmark_tag.pipeline.discover import PhotoFile
from landmark_tag.pipeline.incremental import PartJournal
from landmark_tag.pipeline.predict import Predictor
from landmark_tag.pipeline.rows import predicted_rows
from landmark_tag.pipeline.sidecar import SidecarWriter
from landmark_tag.process import prepare_inference_process


def shard_photos(photos: list[PhotoFile], size: int) -> list[list[PhotoFile]]:
    """The work list in order, cut into shards of at most `size` photos."""
    return [photos[start : start + size] for start in range(0, len(photos), size)]


@dataclass
class ExamineShard:
    """Ray Data task: a shard's photos -> their examined items and stacked pixels, pickled (the
    items carry paths that need not be UTF-8, and pixels that may be bf16)."""

    decoder: PhotoDecoder
    include_gps: bool
    storage_options: dict | None

    def __call__(self, row: dict) -> dict:
        photos = pickle.loads(row["photos"])
        items = [
            examine_photo(photo, self.decoder, self.include_gps, self.storage_options) for photo in photos
        ]
        return {"shard": row["shard"], "batch": pickle.dumps(collate_photos(items), protocol=5)}


@dataclass
class TaggerSettings:
    """What every model actor needs to build the same predictor the driver checked."""

    model: Any  # a Ray ObjectRef of the LoadedModel: no node needs the checkpoint file
    device: str  # cpu or cuda
    threads: int | None  # None: torch's default (GPU actors)
    batch_size: int
    k: int
    min_confidence: float | None
    min_landmark_score: float | None
    precision: str
    runtime: str
    out: str
    run_id: str
    storage_options: dict | None = None
    write_xmp: bool = False


class ShardTagger:
    """Ray Data actor: one model; tags a shard, writes its sidecars and commits it as a part file."""

    def __init__(self, settings: TaggerSettings) -> None:
        import ray  # present wherever this actor runs

        device = torch.device(settings.device)
        prepare_inference_process(device, settings.threads)
        loaded: LoadedModel = ray.get(settings.model)
        self.settings = settings
        self.model_name = loaded.name
        self.predictor = Predictor(
            loaded,
            device,
            settings.k,
            settings.min_confidence,
            settings.precision,
            settings.min_landmark_score,
            settings.runtime,
        )
        self.journal = PartJournal(
            settings.out, self.predictor.k, settings.storage_options, run_id=settings.run_id
        )

    def __call__(self, row: dict) -> dict:
        started = time.monotonic()
        batch = pickle.loads(row["batch"])
        model_batches = split_batch(batch, self.settings.batch_size)
        rows = [
            row for rows in predicted_rows(model_batches, self.predictor, self.model_name) for row in rows
        ]
        tagged = time.monotonic()
        sidecars = SidecarWriter(self.settings.storage_options) if self.settings.write_xmp else None
        if sidecars is not None:  # before the commit: a retried shard redoes them, idempotently
            sidecars.write(rows)
        part = self.journal.commit(rows, shard=row["shard"])
        return {
            "part": part,
            "statuses": pickle.dumps(Counter(row.status.value for row in rows)),
            "sidecars": pickle.dumps(sidecars.stats if sidecars is not None else None),
            "device": self.predictor.runs_on,
            "model_seconds": tagged - started,
            "writing_seconds": time.monotonic() - tagged,
        }
