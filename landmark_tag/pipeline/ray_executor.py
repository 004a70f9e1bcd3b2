"""The Ray engine: the same scan on Ray Data, for upload buckets that outgrow one machine.

The driver (this process) plans and commits, as with the local engine. In between, Ray Data streams
the work list, cut into shards of `commit_rows` photos, through two stages:

- examine: CPU tasks read each photo's EXIF and decode it (`batch.examine_photo`), a shard per task;
- tag: a pool of actors, one model each (`num_gpus=1` where the cluster has GPUs, else a set number
  of CPU threads), runs the predictor, builds the rows, writes sidecars and commits the shard as
  one part file.

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
from dataclasses import dataclass, field

import torch

from landmark_tag.checkpoint import LoadedModel
from landmark_tag.errors import ConfigError, LandmarkTagError
from landmark_tag.pipeline.batch import collate_photos, examine_photo, split_batch
from landmark_tag.pipeline.decode import PhotoDecoder
from landmark_tag.pipeline.discover import PhotoFile
from landmark_tag.pipeline.incremental import PartJournal
from landmark_tag.pipeline.predict import Predictor
from landmark_tag.pipeline.process import (
    default_batch_size,
    default_threads,
    lower_priority,
    prepare_inference_process,
)
from landmark_tag.pipeline.records import Status
from landmark_tag.pipeline.rows import rows_for_batch
from landmark_tag.pipeline.scan_config import ExecutionResult, ScanConfig, ScanWork, StageTiming
from landmark_tag.pipeline.sidecar import SidecarStats, SidecarWriter
from landmark_tag.pipeline.storage import exists
from landmark_tag.progress import PhotoProgress

logger = logging.getLogger(__name__)

RAY_INSTALL = "pip install 'landmark-tag[ray]'"
# Reserved per decode task: a worker process with torch loaded (about 450 MB) and a photo at the
# default --max-pixels (up to 360 MB). Besides keeping a small node from running more decodes than
# it has memory for, a resource request the actors do not share keeps Ray Data from fusing decoding
# into the model actors, where it would run one shard at a time.
DECODE_TASK_MEMORY = 1 << 30


class RayClusterError(LandmarkTagError):
    """The Ray cluster cannot be reached, or cannot do what the scan needs of it."""


def import_ray():
    """Ray, or a one-line error that says how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(
            f"the Ray engine (--engine ray) needs Ray, which is not installed: {RAY_INSTALL}"
        ) from None
    return ray


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
        lower_priority()  # as the local engine's decode workers: inference comes first
        photos = pickle.loads(row["photos"])
        items = [
            examine_photo(photo, self.decoder, self.include_gps, self.storage_options) for photo in photos
        ]
        return {"shard": row["shard"], "batch": pickle.dumps(collate_photos(items), protocol=5)}


@dataclass
class TaggerSettings:
    """What every model actor needs to build the same predictor the driver checked."""

    model: object  # a Ray ObjectRef of the LoadedModel: no node needs the checkpoint file
    device: str  # cpu or cuda
    threads: int | None  # None: torch's default (GPU actors)
    batch_size: int
    k: int
    min_confidence: float | None
    min_landmark_score: float | None
    precision: str
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
        )
        self.journal = PartJournal(
            settings.out, self.predictor.k, settings.storage_options, run_id=settings.run_id
        )

    def __call__(self, row: dict) -> dict:
        started = time.monotonic()
        batch = pickle.loads(row["batch"])
        rows = []
        for model_batch in split_batch(batch, self.settings.batch_size):
            rows.extend(rows_for_batch(model_batch, self.predictor, self.model_name))
        tagged = time.monotonic()
        sidecars = SidecarWriter(self.settings.storage_options) if self.settings.write_xmp else None
        if sidecars is not None:  # before the commit: a retried shard redoes them, idempotently
            sidecars.write(rows)
        part = self.journal.commit(rows, shard=row["shard"])
        return {
            "part": part,
            "statuses": pickle.dumps(Counter(row.status.value for row in rows)),
            "sidecars": pickle.dumps(sidecars.stats if sidecars is not None else None),
            "device": f"{self.predictor.device} ({self.predictor.precision})",
            "model_seconds": tagged - started,
            "writing_seconds": time.monotonic() - tagged,
        }


@dataclass
class ClusterShape:
    """The model actors the scan asks the cluster for."""

    actors: int
    device: str  # cpu or cuda
    threads: int | None  # per actor; None on GPUs
    cpus_per_actor: float
    gpus_per_actor: int = 0
    notes: list[str] = field(default_factory=list)


def cluster_shape(ray, config: ScanConfig) -> ClusterShape:
    """One actor per GPU where the cluster has GPUs (and the device allows); else one CPU actor per
    node, with half the smallest node's cores as threads. --actors and --threads override."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if config.device.startswith("cuda") and gpus == 0:
        raise ConfigError("the cuda device (--device cuda) was asked for, but the Ray cluster has no GPU")
    if gpus and config.device != "cpu":
        return ClusterShape(config.actors or gpus, "cuda", config.threads, 1, 1)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    cores = min((int(node["Resources"].get("CPU", 1)) for node in nodes), default=1)
    threads = config.threads or default_threads(torch.device("cpu"), cores)
    return ClusterShape(config.actors or max(1, len(nodes)), "cpu", threads, threads)


@contextlib.contextmanager
def ray_session(ray, config: ScanConfig) -> Iterator[str]:
    """Ray for the scan: the instance this process is already connected to, a cluster at
    `config.ray_address`, or a local instance that lives as long as the scan. Yields its address."""
    if ray.is_initialized():
        yield ray.get_runtime_context().gcs_address
        return
    cores = os.cpu_count() or 1
    if config.ray_address is None:
        # As the local engine: every core decodes, beside the model's threads.
        actors = config.actors or 1
        threads = config.threads or default_threads(torch.device("cpu"))
        options = {"num_cpus": cores + actors * threads, "include_dashboard": False}
    else:
        options = {"address": config.ray_address}
    try:
        # ERROR: a local instance's start-up notices (its auth token, say) mean nothing to a scan.
        ray.init(logging_level=logging.ERROR if config.ray_address is None else logging.WARNING, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = config.ray_address or "a local Ray instance"
        raise RayClusterError(f"cannot start or join Ray at {where}: {exc}") from None
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@contextlib.contextmanager
def quiet_ray_data(ray) -> Iterator[None]:
    """The scan shows its own progress bar; Ray Data's bars and start-up lines would only interleave
    with it. Put back afterwards: the setting belongs to the calling process."""
    context = ray.data.DataContext.get_current()
    saved = (context.enable_progress_bars, context.print_on_execution_start)
    context.enable_progress_bars, context.print_on_execution_start = False, False
    # Ray Data's own lines ("execution finished", "progress bars disabled"); its warnings stay.
    levels = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}
    saved_levels = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


class RayExecutor:
    def __init__(self, config: ScanConfig, loaded: LoadedModel) -> None:
        self.ray = import_ray()
        if config.device not in ("auto", "cpu") and not config.device.startswith("cuda"):
            raise ConfigError(f"unknown device {config.device!r} (--device): use auto, cpu or cuda")
        self.config = config
        self.loaded = loaded
        # The driver's own predictor checks k and the thresholds before Ray starts, and gives the
        # merge its judge; the model runs in the actors.
        self.predictor = Predictor(
            loaded,
            torch.device("cpu"),
            config.k,
            config.min_confidence,
            config.precision,
            config.min_landmark_score,
        )

    def execute(self, work: ScanWork, progress: PhotoProgress) -> ExecutionResult:
        counts: Counter[str] = Counter({status.value: 0 for status in Status})
        timing = StageTiming()
        if not work.photos:  # nothing to tag: no reason to start Ray
            return ExecutionResult(counts, device="none (nothing to process)", timing=timing)
        ray, config = self.ray, self.config
        mark = time.monotonic()
        with ray_session(ray, config) as address, quiet_ray_data(ray):
            shape = cluster_shape(ray, config)
            timing.engine_start = time.monotonic() - mark
            logger.info(
                "Ray at %s: %d model actor(s) on %s, %s",
                address,
                shape.actors,
                shape.device,
                f"{shape.threads} thread(s) each" if shape.threads else "one GPU each",
            )
            dataset = self._dataset(ray, work, shape)
            device, sidecars = "", SidecarStats() if config.write_xmp else None
            for result in dataset.iter_rows():
                if not device and not exists(result["part"], config.storage_options):
                    raise ConfigError(
                        f"the Ray workers committed {result['part']}, which this machine cannot read: "
                        "with a Ray cluster, --out must be in a bucket (s3://...) or on a filesystem "
                        "that every node shares"
                    )
                device = result["device"]
                statuses = pickle.loads(result["statuses"])
                counts.update(statuses)
                _add_sidecar_stats(sidecars, pickle.loads(result["sidecars"]))
                timing.model += result["model_seconds"]
                timing.writing += result["writing_seconds"]
                work.heartbeat()
                progress.advance(sum(statuses.values()))
        return ExecutionResult(counts, device, sidecars, address, timing)

    def _dataset(self, ray, work: ScanWork, shape: ClusterShape):
        config = self.config
        shards = shard_photos(work.photos, work.journal.commit_rows)
        items = [{"shard": index, "photos": pickle.dumps(photos)} for index, photos in enumerate(shards)]
        # fp32 pixels unless bf16 is forced: `auto` resolves on each actor's own hardware, and a
        # bf16 actor rounds fp32 pixels exactly as a bf16 decode would.
        dtype = torch.bfloat16 if config.precision == "bf16" else torch.float32
        examine = ExamineShard(
            PhotoDecoder(self.loaded.spec.preprocessing, max_pixels=config.max_pixels, dtype=dtype),
            config.include_gps,
            config.storage_options,
        )
        settings = TaggerSettings(
            # Put once, by the driver, which owns it for the scan: a restarted actor (a lost node)
            # fetches it again, and the actor's own arguments stay small.
            model=ray.put(self.loaded),
            device=shape.device,
            threads=shape.threads,
            batch_size=config.batch_size or default_batch_size(torch.device(shape.device)),
            k=config.k,
            min_confidence=config.min_confidence,
            min_landmark_score=config.min_landmark_score,
            precision=config.precision,
            out=config.out,
            run_id=work.journal.run_id,
            storage_options=config.storage_options,
            write_xmp=config.write_xmp,
        )
        return (
            ray.data.from_items(items, override_num_blocks=len(items))
            .map(examine, num_cpus=1, memory=DECODE_TASK_MEMORY)
            .map(
                ShardTagger,
                fn_constructor_kwargs={"settings": settings},
                compute=ray.data.ActorPoolStrategy(size=shape.actors),
                num_cpus=shape.cpus_per_actor,
                num_gpus=shape.gpus_per_actor,
            )
        )


def _add_sidecar_stats(
    total: SidecarStats | None, shard: SidecarStats | None, keep_problems: int = 20
) -> None:
    if total is None or shard is None:
        return
    total.written += shard.written
    total.unchanged += shard.unchanged
    total.failed += shard.failed
    total.problems.extend(shard.problems[: max(0, keep_problems - len(total.problems))])
