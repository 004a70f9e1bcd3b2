"""The Ray engine's two stages, as Ray Data runs them (see `ray_engine`).

- `ExamineShard`, a CPU task: a shard's photos -> examined items, stacked into one batch;
- `TaggingActor`, an actor with one model: a decoded shard -> `ShardTagger.tag_shard` (rows,
  and the part named after the shard, so a retried shard replaces its part).

Both only call the stage code the local engine uses (`Examiner`, `Predictor`, `ShardTagger`).
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from typing import Any

import torch

from landmark_tag.host.process import prepare_inference_process
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.pipeline.engines.base import LANDMARKS_OFF_DEVICE
from landmark_tag.pipeline.engines.tag_shard import ShardTagger
from landmark_tag.pipeline.execute.batch import collate_photos, split_batch
from landmark_tag.pipeline.execute.examine import Examiner
from landmark_tag.pipeline.execute.predict import Predictor
from landmark_tag.pipeline.journal import PartJournal
from landmark_tag.pipeline.resolve import ResolvedScan


@dataclass
class ExamineShard:
    """Ray Data task: a shard's photos -> their examined items and stacked pixels, pickled (the
    items carry paths that need not be UTF-8, and pixels that may be bf16)."""

    examiner: Examiner

    def __call__(self, row: dict) -> dict:
        items = [self.examiner(photo) for photo in pickle.loads(row["photos"])]
        for item in items:
            item.shard = row["shard"]
        return {"shard": row["shard"], "batch": pickle.dumps(collate_photos(items), protocol=5)}


@dataclass
class ActorSettings:
    """What every model actor is handed: the resolved scan, and what the cluster decided."""

    model: Any  # a Ray ObjectRef of the LoadedModel (no node needs the checkpoint file); None: no model
    scan: ResolvedScan
    device: str  # cpu or cuda
    threads: int | None  # None: torch's default (GPU actors)
    run_id: str  # the driver's journal's: every part of the run carries one name


class TaggingActor:
    """Ray Data actor: one model; tags a shard and commits it as a part file."""

    def __init__(self, settings: ActorSettings) -> None:
        import ray  # present wherever this actor runs

        scan = settings.scan
        self.device = torch.device(settings.device)
        self.scan = scan
        self.predictor = None
        if settings.model is not None and scan.inference is not None:
            prepare_inference_process(self.device, settings.threads)
            loaded: LoadedModel = ray.get(settings.model)
            self.predictor = Predictor(loaded, self.device, scan.inference)
        self.journal = PartJournal(scan.output, scan.k, run_id=settings.run_id)

    def __call__(self, row: dict) -> dict:
        started = time.monotonic()
        batches = split_batch(pickle.loads(row["batch"]), self.scan.batch_for(self.device))
        result = ShardTagger(self.predictor, self.journal).tag_shard(batches)
        return {
            "part": result.part,
            "statuses": pickle.dumps(result.statuses),
            "reads": pickle.dumps(result.reads),
            "throttled": result.throttled,
            "device": self.predictor.runs_on if self.predictor is not None else LANDMARKS_OFF_DEVICE,
            "model_seconds": time.monotonic() - started - result.writing_seconds,
            "writing_seconds": result.writing_seconds,
        }
