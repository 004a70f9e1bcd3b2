"""The scan: resolve -> plan -> execute -> commit.

- **resolve**: every setting worked out once, with the model, into a frozen `ResolvedScan`;
- **plan**, here: under a lock on the output, list the photos, work out which of them an earlier run
  already tagged and cut the rest into shards (`plan.scan_plan`);
- **execute**, by an engine chosen by name: examine, decode and tag each shard, committing it as a
  part file in `<out>.parts/` (`engines.local` on this machine, `engines.ray_engine` on Ray Data);
- **commit**, here: merge the earlier output with the parts into the new output (`commit.merge`).

Pass `loaded_model` to reuse a model already in memory.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from landmark_tag.files.throttling import throttled_answers
from landmark_tag.model.checkpoint import LoadedModel, default_model_path, load_model
from landmark_tag.pipeline.commit.merge import commit_scan
from landmark_tag.pipeline.commit.sidecar_files import SidecarStats, SidecarWriter
from landmark_tag.pipeline.config import ScanConfig
from landmark_tag.pipeline.engines.base import ScanWork, StageTiming
from landmark_tag.pipeline.engines.registry import engine_named
from landmark_tag.pipeline.inference import warn_without_landmark_score
from landmark_tag.pipeline.plan.lock import OutputLock
from landmark_tag.pipeline.plan.scan_plan import ScanPlan, plan_scan
from landmark_tag.pipeline.resolve import ResolvedScan, resolve_scan
from landmark_tag.progress import NoProgress, PhotoProgress

__all__ = ["ResolvedScan", "ScanConfig", "ScanPlan", "ScanSummary", "StageTiming", "resolve_scan", "scan"]

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
    min_confidence: float | None = None  # the threshold this run used; None: no landmark model
    min_landmark_score: float | None = None  # the one this run used; None: the model has no score
    rejudged: int = 0  # rows kept from earlier runs whose status these thresholds changed
    clocks: list[str] = field(default_factory=list)  # camera and track clock offsets found
    locations: dict[str, int] = field(default_factory=dict)  # rows of the output located, by source
    locations_withdrawn: int = 0  # earlier rows that had a location and have none now
    copies_checked: int = 0  # candidate pairs the copy pass compared by their pixels
    gpx_given: bool = False  # whether GPS tracks were given (--gpx)
    sidecars: SidecarStats | None = None  # with --write-xmp
    unreadable: list[str] = field(default_factory=list)
    timing: StageTiming = field(default_factory=lambda: StageTiming())
    # Photos processed and bytes of their files read: located_photos, located_bytes (by their own
    # GPS: the head of the file), other_photos, other_bytes (read whole, to be decoded).
    bytes_read: dict[str, int] = field(default_factory=dict)
    # The store's answers that asked the scan to slow down (S3's SlowDown), each retried after a
    # back-off: listing, reading photos and earlier output, writing parts, the lock, publishing.
    throttled: int = 0
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


def landmark_model(config: ScanConfig) -> LoadedModel | None:
    """The landmark model to run: --model's, else the one `train` writes if it is there. None,
    said once, where there is none (or --no-landmarks): photos are then located by GPS, tracks and
    time only, and those left get `landmarks_off`."""
    if not config.landmarks:
        return None
    if config.model is not None:
        return load_model(config.model)
    path = default_model_path()
    if path.exists():
        return load_model(path)
    logger.warning(
        "landmarks are off: there is no landmark model (none at %s), so photos are located by their "
        "GPS, GPS tracks (--gpx) and time only, and the others are marked landmarks_off. `landmark-tag "
        "train` makes one (or give --model FILE); a later scan with it looks at those photos",
        path,
    )
    return None


def scan(
    config: ScanConfig,
    progress: PhotoProgress | None = None,
    *,
    loaded_model: LoadedModel | None = None,
) -> ScanSummary:
    """Tag every photo under `config.inputs` not already in `config.out`, one row per photo.

    Fatal problems (bad settings, no model, a missing input, an unusable output, another scan on
    the same output) raise before any photo is read; problems with single photos become `failed`
    rows.
    """
    started = time.monotonic()
    # This process's own requests before the engine runs and after (checks, the lock, the plan, the
    # commit): the engine counts its own, here too with the local engine.
    before_plan = throttled_answers()
    progress = progress or NoProgress()
    config.check()  # what the options alone refuse, before the model loads
    engine_for = engine_named(config.engine)  # a missing Ray, too
    loaded = loaded_model or landmark_model(config)
    resolved = resolve_scan(config, loaded)
    engine = engine_for(resolved, loaded)
    if loaded is not None:
        warn_without_landmark_score(loaded)
    with OutputLock(resolved.output) as lock:
        plan = plan_scan(resolved)
        planning = throttled_answers() - before_plan
        setup = time.monotonic() - started
        progress.start(len(plan.work.to_process))
        result = engine.run(ScanWork(plan.shards, plan.journal, lock.heartbeat), progress)
        mark, before_commit = time.monotonic(), throttled_answers()
        # Sidecars follow the published output: the commit writes them, each at most once.
        sidecars = SidecarWriter(resolved.given.storage_options) if resolved.given.write_xmp else None
        merged = commit_scan(plan, resolved, sidecars)
        result.timing.setup, result.timing.merging = setup, time.monotonic() - mark
    throttled = planning + lock.throttled + throttled_answers() - before_commit
    logger.debug("stage seconds: %s", result.timing)
    judge, work = resolved.judge, plan.work
    return ScanSummary(
        output=resolved.output.path,
        model=loaded.name if loaded is not None else "",
        device=result.device,
        photos=plan.photos,
        processed=len(work.to_process),
        counts=dict(result.counts),
        new=work.new,
        changed=work.changed,
        retried=work.retried,
        unchanged=work.unchanged,
        removed=len(work.removed),
        pruned=resolved.given.prune,
        output_rows=merged.rows,
        ignored_files=plan.discovery.ignored_files,
        elapsed_seconds=time.monotonic() - started,
        min_confidence=judge.min_confidence if judge is not None else None,
        min_landmark_score=judge.min_landmark_score if judge is not None else None,
        rejudged=merged.rejudged,
        clocks=merged.clocks,
        locations=merged.locations,
        locations_withdrawn=merged.withdrawn,
        copies_checked=merged.copies_checked,
        gpx_given=bool(resolved.given.gpx),
        sidecars=sidecars.stats if sidecars is not None else None,
        unreadable=plan.discovery.unreadable,
        timing=result.timing,
        bytes_read=dict(result.reads),
        throttled=throttled + result.throttled,
        engine=resolved.given.engine,
        ray_address=result.ray_address,
    )
