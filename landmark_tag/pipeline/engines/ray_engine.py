"""The Ray engine: the same scan on Ray Data, for upload buckets that outgrow one machine.

The driver (this process) plans and commits, as with the local engine. In between, Ray Data streams
the plan's shards through two stages:

- examine (`ray_stages.ExamineShard`): CPU tasks read each photo's EXIF and decode it, a shard per
  task;
- tag (`ray_stages.TaggingActor`): a pool of actors, one model each (`num_gpus=1` where the cluster
  has GPUs, else a set number of CPU threads), tags each shard as the local engine does
  (`tag_shard.ShardTagger`): rows, and the shard committed as one part file.

The shard is the unit of work and of commit. Its part file is named after it and written whole or
not at all, so when Ray retries a task or restarts an actor (a worker or node lost), the retry
replaces that part instead of adding rows. Bad photos are `failed` rows, never failed tasks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import time
from collections import Counter
from collections.abc import Iterator

import torch

from landmark_tag.errors import ConfigError
from landmark_tag.files.results import status_counts
from landmark_tag.files.storage import exists
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.pipeline.engines.base import ExecutionResult, ScanWork, StageTiming
from landmark_tag.pipeline.engines.ray_cluster import ClusterShape, cluster_shape, import_ray, ray_session
from landmark_tag.pipeline.engines.ray_stages import ActorSettings, ExamineShard, TaggingActor
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from landmark_tag.pipeline.execute.examine import Examiner
from landmark_tag.pipeline.resolve import ResolvedScan
from landmark_tag.progress import PhotoProgress
from landmark_tag.runtime.runners import build_models

logger = logging.getLogger(__name__)

# Reserved per decode task: a worker process with torch loaded (about 450 MB) and a photo at the
# default --max-pixels (up to 360 MB). Besides keeping a small node from running more decodes than
# it has memory for, a resource request the actors do not share keeps Ray Data from fusing decoding
# into the model actors, where it would run one shard at a time.
DECODE_TASK_MEMORY = 1 << 30


# Decoded shards that may wait per model actor: enough to keep it busy while the next ones decode.
SHARDS_AHEAD = 4


@contextlib.contextmanager
def ray_data_settings(ray, read_ahead_bytes: int) -> Iterator[None]:
    """Ray Data as the scan needs it, put back afterwards (the settings belong to the calling
    process): no bars or start-up lines of its own (the scan shows its own progress), and decoded
    shards waiting for an actor bounded by `read_ahead_bytes` of the object store. Unbounded, Ray
    Data decodes as far ahead as the object store allows while the actors load the model: gigabytes
    of pixels for nothing."""
    context = ray.data.DataContext.get_current()
    limits = context.execution_options.resource_limits
    saved = (context.enable_progress_bars, context.print_on_execution_start, limits)
    context.enable_progress_bars, context.print_on_execution_start = False, False
    context.execution_options.resource_limits = limits.copy(object_store_memory=read_ahead_bytes)
    # Ray Data's own lines ("execution finished", "progress bars disabled"); its warnings stay.
    levels = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}
    saved_levels = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start, limits = saved
        context.execution_options.resource_limits = limits
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


class RayEngine:
    """The scan on Ray Data; without a landmark model (`loaded` None), the actors only make rows."""

    def __init__(self, scan: ResolvedScan, loaded: LoadedModel | None) -> None:
        self.ray = import_ray()
        self.scan = scan
        self.loaded = loaded

    def run(self, work: ScanWork, progress: PhotoProgress) -> ExecutionResult:
        counts = status_counts()
        reads: Counter[str] = Counter()
        throttled = 0
        timing = StageTiming()
        if not work.shards:  # nothing to tag: no reason to start Ray
            return ExecutionResult(counts, device="none (nothing to process)", timing=timing)
        ray, config = self.ray, self.scan
        mark = time.monotonic()
        with contextlib.ExitStack() as stack:
            address, own_instance = stack.enter_context(ray_session(ray, config))
            # On its own instance, the scan counts this machine's cores, not the CPUs it gave Ray.
            shape = cluster_shape(ray, config, os.cpu_count() if own_instance else None)
            if self.loaded is None:  # no model to run: one-CPU actors that only make rows
                shape = ClusterShape(shape.actors, "cpu", 1, 1, 0)
            stack.enter_context(ray_data_settings(ray, self._read_ahead_bytes(work, shape)))
            if shape.device == "cpu" and self.loaded is not None and config.inference is not None:
                # Built once here, so that this machine's actors find them built.
                build_models(self.loaded, config.inference.runtime, config.inference.precision)
            timing.engine_start = time.monotonic() - mark
            logger.info(
                "Ray at %s: %d model actor(s) on %s, %s",
                address,
                shape.actors,
                shape.device,
                f"{shape.threads} thread(s) each" if shape.threads else "one GPU each",
            )
            dataset = self._dataset(ray, work, shape)
            device = ""
            for result in dataset.iter_rows():
                if not device and not exists(result["part"], config.output.storage_options):
                    raise ConfigError(
                        f"the Ray workers committed {result['part']}, which this machine cannot read: "
                        "with a Ray cluster, --out must be in a bucket (s3://...) or on a filesystem "
                        "that every node shares"
                    )
                device = result["device"]
                statuses = pickle.loads(result["statuses"])
                counts.update(statuses)
                reads.update(pickle.loads(result["reads"]))
                throttled += result["throttled"]
                timing.model += result["model_seconds"]
                timing.writing += result["writing_seconds"]
                work.heartbeat()
                progress.advance(sum(statuses.values()))
        return ExecutionResult(counts, device, address, timing, reads, throttled)

    def _read_ahead_bytes(self, work: ScanWork, shape: ClusterShape) -> int:
        """Room for SHARDS_AHEAD decoded shards per actor (fp32 pixels), and at least 256 MB."""
        size = self.loaded.spec.preprocessing.input_size if self.loaded is not None else 0
        shard_bytes = max(len(shard.photos) for shard in work.shards) * 3 * size * size * 4
        return max(256 << 20, SHARDS_AHEAD * shape.actors * shard_bytes)

    def _dataset(self, ray, work: ScanWork, shape: ClusterShape):
        scan = self.scan
        items = [{"shard": shard.index, "photos": pickle.dumps(list(shard.photos))} for shard in work.shards]
        # fp32 pixels unless bf16 is forced: `auto` resolves on each actor's own hardware, and a
        # bf16 actor rounds fp32 pixels exactly as a bf16 decode would.
        decoder = None
        if self.loaded is not None and scan.inference is not None:
            dtype = torch.bfloat16 if scan.inference.precision == "bf16" else torch.float32
            preprocessing = self.loaded.spec.preprocessing
            decoder = PhotoDecoder(preprocessing, max_pixels=scan.given.max_pixels, dtype=dtype)
        examine = ExamineShard(Examiner.for_scan(scan, decoder))
        settings = ActorSettings(
            # Put once, by the driver, which owns it for the scan: a restarted actor (a lost node)
            # fetches it again, and the actor's own arguments stay small.
            model=ray.put(self.loaded) if self.loaded is not None else None,
            scan=scan,
            device=shape.device,
            threads=shape.threads,
            run_id=work.journal.run_id,
        )
        return (
            ray.data.from_items(items, override_num_blocks=len(items))
            .map(examine, num_cpus=1, memory=DECODE_TASK_MEMORY)
            .map(
                TaggingActor,
                fn_constructor_kwargs={"settings": settings},
                compute=ray.data.ActorPoolStrategy(size=shape.actors),
                num_cpus=shape.cpus_per_actor,
                num_gpus=shape.gpus_per_actor,
            )
        )
