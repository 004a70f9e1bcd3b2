"""The scan: plan -> execute -> commit.

- **plan**, here: under a lock on the output, list the photos and work out which of them an earlier
  run already tagged (see `incremental`);
- **execute**, by an engine: examine, decode and tag the rest, committing rows as part files in
  `<out>.parts/` as it goes (`local_executor` on this machine, `ray_executor` on a Ray cluster);
- **commit**, here: merge the earlier output with the parts into the new output.

Pass `loaded_model` to reuse a model already in memory.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from landmark_tag.checkpoint import LoadedModel, default_model_path, load_model
from landmark_tag.device import resolve_device
from landmark_tag.errors import ConfigError
from landmark_tag.pipeline.discover import DiscoveryStats, discover_photos
from landmark_tag.pipeline.incremental import (
    PartJournal,
    WorkPlan,
    check_k,
    check_prune,
    count_rejudged,
    merge_output,
    other_models,
    plan_work,
    read_done,
)
from landmark_tag.pipeline.judge import Judge
from landmark_tag.pipeline.local_executor import LocalExecutor
from landmark_tag.pipeline.lock import OutputLock
from landmark_tag.pipeline.predict import Predictor, warn_without_landmark_score
from landmark_tag.pipeline.scan_config import ScanConfig, ScanWork, StageTiming
from landmark_tag.pipeline.sidecar import SidecarStats
from landmark_tag.progress import NoProgress, PhotoProgress
from landmark_tag.results import output_format
from landmark_tag.storage import exists, is_url, local_path, remove_stale_staging_files

if TYPE_CHECKING:
    from landmark_tag.pipeline.ray_executor import RayExecutor

__all__ = ["ScanConfig", "ScanPlan", "ScanSummary", "StageTiming", "commit_scan", "plan_scan", "scan"]

logger = logging.getLogger(__name__)


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
    engine: str = "local"
    ray_address: str | None = None  # the Ray cluster that ran the scan (engine "ray")

    @property
    def photos_per_second(self) -> float:
        """Processing rate of this run, start to end."""
        return self.processed / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def tagging_photos_per_second(self) -> float:
        """Processing rate while photos were being tagged: less the model's load, the listing and
        planning, Ray's start and the final merge."""
        timing = self.timing
        seconds = self.elapsed_seconds - timing.setup - timing.engine_start - timing.merging
        return self.processed / seconds if seconds > 0 else 0.0


@dataclass
class ScanPlan:
    """What `plan_scan` found: the photos, the earlier output to extend, and the work left."""

    photos: int  # found in the tree
    discovery: DiscoveryStats
    previous: str | None  # the earlier output, when this run extends one
    output_format: str
    journal: PartJournal
    work: WorkPlan


def plan_scan(config: ScanConfig, k: int, model: str | None = None) -> ScanPlan:
    """List the photos and decide which to process: everything not already done in the earlier
    output or in parts an interrupted run committed. Call it under the output's lock. With `model`
    (this run's), earlier rows of other models are reported."""
    storage = config.storage_options
    fmt = output_format(config.out, config.output_format)
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
    journal = PartJournal(config.out, k, storage, config.commit_rows)
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
        check_k(previous, fmt, k, storage)
    sources = ([(previous, fmt)] if previous else []) + [(part, "parquet") for part in journal.existing()]
    done = read_done(sources, storage)
    work = plan_work(photos, done, config.include_gps)
    if model is not None and (others := other_models(done, model)):
        logger.warning(
            "%s rows of %s were made by another model (%s) and are kept as they are; only new and "
            "changed photos get this model's tags. To tag every photo with this model, run again with "
            "--full (or write to another --out)",
            f"{sum(others.values()):,}",
            config.out,
            ", ".join(sorted(others)),
        )
    if config.prune and not config.force_prune:
        check_prune(len(photos), len(work.removed), len(done), config.inputs)
    return ScanPlan(len(photos), stats, previous, fmt, journal, work)


def commit_scan(config: ScanConfig, plan: ScanPlan, judge: Judge) -> tuple[int, int]:
    """Merge the earlier output and the committed parts into the new output, then remove the
    parts. Returns (rows in the output, earlier rows whose status `judge` changed)."""
    storage = config.storage_options
    parts = plan.journal.existing()
    drop = plan.work.removed if config.prune else set()
    previous, fmt = plan.previous, plan.output_format
    output_rows, rejudged = plan.work.unchanged + len(plan.work.removed), 0
    if parts or drop or previous is None or count_rejudged(previous, fmt, judge, storage):
        merged = merge_output(config.out, fmt, plan.journal.k, previous, parts, drop, storage, judge)
        output_rows, rejudged = merged.rows, merged.rejudged
    # else nothing new, nothing judged otherwise: the earlier output stays exactly as it is
    plan.journal.clear()
    return output_rows, rejudged


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
    config.check_engine_options()
    if config.force_prune and not config.prune:
        raise ConfigError("force_prune (--force-prune) only applies with prune (--prune)")
    if config.engine == "ray":
        from landmark_tag.pipeline.ray_cluster import import_ray

        import_ray()  # a missing Ray fails before the model loads
    output_format(config.out, config.output_format)  # an unknown format fails before the model loads
    if not is_url(config.out) and os.path.isdir(local_path(config.out)):
        raise ConfigError(
            f"the output (--out) {config.out} is a folder: give a file name, such as "
            f"{os.path.join(config.out, 'tags.parquet')}"
        )
    loaded = loaded_model or load_model(config.model or default_model_path())
    executor = _executor(config, loaded)
    predictor = executor.predictor
    warn_without_landmark_score(loaded)
    with OutputLock(config.out, config.storage_options) as lock:
        plan = plan_scan(config, predictor.k, loaded.name)
        setup = time.monotonic() - started
        progress.start(len(plan.work.to_process))
        result = executor.execute(ScanWork(plan.work.to_process, plan.journal, lock.heartbeat), progress)
        mark = time.monotonic()
        output_rows, rejudged = commit_scan(config, plan, predictor.judge_settings)
        result.timing.setup, result.timing.merging = setup, time.monotonic() - mark
    logger.debug("stage seconds: %s", result.timing)
    work = plan.work
    return ScanSummary(
        output=config.out,
        model=loaded.name,
        device=result.device,
        photos=plan.photos,
        processed=len(work.to_process),
        counts=dict(result.counts),
        new=work.new,
        changed=work.changed,
        retried=work.retried,
        unchanged=work.unchanged,
        removed=len(work.removed),
        pruned=config.prune,
        output_rows=output_rows,
        ignored_files=plan.discovery.ignored_files,
        elapsed_seconds=time.monotonic() - started,
        min_confidence=predictor.min_confidence,
        min_landmark_score=predictor.min_landmark_score,
        rejudged=rejudged,
        sidecars=result.sidecars,
        unreadable=plan.discovery.unreadable,
        timing=result.timing,
        engine=config.engine,
        ray_address=result.ray_address,
    )


def _executor(config: ScanConfig, loaded: LoadedModel) -> LocalExecutor | RayExecutor:
    """The engine to run the scan's work, with the predictor whose settings the plan and the merge
    use (on Ray, the actors build their own from the same settings)."""
    if config.engine == "ray":
        from landmark_tag.pipeline.ray_executor import RayExecutor  # needs the optional Ray

        return RayExecutor(config, loaded)
    device = resolve_device(config.device)
    if config.gpu_decode and device.type != "cuda":
        raise ConfigError(
            "gpu_decode (--gpu-decode) needs a CUDA GPU to decode on (and --device auto or cuda)"
        )
    predictor = Predictor(
        loaded,
        device,
        config.k,
        config.min_confidence,
        config.precision,
        config.min_landmark_score,
        config.runtime,
    )
    return LocalExecutor(config, loaded, predictor)
