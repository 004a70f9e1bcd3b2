"""The plan: list the photos, compare them with what earlier runs did, and cut the rest into shards.

Called under the output's lock (`lock`). Nothing here changes the output; an interrupted run's
parts are kept as work already done (or dropped, when made with another --k, or with --full).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

from landmark_tag.files.discover import DiscoveryStats, discover_photos
from landmark_tag.files.storage import remove_stale_staging_files
from landmark_tag.locating.fixes import Fixes
from landmark_tag.locating.tracks import read_tracks
from landmark_tag.pipeline.journal import PartJournal
from landmark_tag.pipeline.plan.incremental import (
    KEY_COLUMNS,
    WorkPlan,
    check_k,
    check_prune,
    other_models,
    plan_work,
    read_done,
)
from landmark_tag.pipeline.resolve import ResolvedScan
from landmark_tag.pipeline.shards import Shard, cut_shards

logger = logging.getLogger(__name__)


@dataclass
class ScanPlan:
    """What `plan_scan` found: the photos, the earlier output to extend, and the work left."""

    photos: int  # found in the tree
    discovery: DiscoveryStats
    previous: bool  # whether this run extends an earlier output
    journal: PartJournal
    work: WorkPlan
    shards: list[Shard]  # work.to_process, cut into shards of --commit-every photos
    track: Fixes | None = None  # the points of the GPS tracks given (--gpx), for the commit


def plan_scan(scan: ResolvedScan) -> ScanPlan:
    """List the photos and decide which to process: everything not already done in the earlier
    output or in parts an interrupted run committed. Earlier rows of other models are reported."""
    output = scan.output
    remove_stale_staging_files(output.path)  # left by a merge that was killed
    stats = DiscoveryStats()
    # The file list is the only thing held for the whole tree; images and rows stream.
    photos = list(
        discover_photos(
            list(scan.given.inputs),
            recursive=scan.given.recursive,
            include_hidden=scan.given.include_hidden,
            stats=stats,
            storage_options=scan.given.storage_options,
        )
    )
    journal = PartJournal(output, scan.k)
    previous = not scan.given.full and output.exists()
    if scan.given.full:
        journal.clear()
    if previous:
        check_k(output, scan.k)
    discarded: list[str] = []
    earlier = [(output.path, lambda: output.batches(columns=KEY_COLUMNS))] if previous else []
    parts = (  # each part fetched once (several at once in a bucket), and read when its turn comes
        (part, lambda table=table: table.select(KEY_COLUMNS).to_batches())
        for part, table in journal.parts_of_this_k(discarded)
    )
    done = read_done(itertools.chain(earlier, parts))
    if discarded:
        logger.warning(
            "discarded %d part files that an interrupted run with another --k left in %s",
            len(discarded),
            journal.folder,
        )
    landmarks = scan.inference is not None  # a model runs: photos no model looked at are looked at now
    work = plan_work(photos, done, scan.given.include_gps, landmarks)
    if landmarks and (others := other_models(done, scan.model_name)):
        logger.warning(
            "%s rows of %s were made by another model (%s) and are kept as they are; only new and "
            "changed photos get this model's tags. To tag every photo with this model, run again with "
            "--full (or write to another --out)",
            f"{sum(others.values()):,}",
            output.path,
            ", ".join(sorted(others)),
        )
    if previous and work.unchanged and "taken_local" not in output.columns():
        logger.warning(
            "%s was written before capture times were read: its %s unchanged photos keep no capture "
            "time, so they neither locate nor get located by time until they are scanned again "
            "(--full, once)",
            output.path,
            f"{work.unchanged:,}",
        )
    if scan.given.prune and not scan.given.force_prune:
        check_prune(len(photos), len(work.removed), len(done), list(scan.given.inputs))
    shards = cut_shards(work.to_process, scan.given.commit_rows)
    track = read_tracks(scan.given.gpx, scan.given.storage_options) if scan.given.gpx else None
    return ScanPlan(len(photos), stats, previous, journal, work, shards, track)
