"""The commit's merge: the earlier output and the committed parts -> the new output, published
in one rename or upload. Rows the current model made earlier are judged again on the way, so new
thresholds apply to the whole output without running the model; then every row is located again
(`locate`), since a new photo with GPS can locate photos written on earlier runs.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from landmark_tag.files.results import LOCATION_COLUMN_NAMES, conform, iter_result_batches
from landmark_tag.locating.fixes import Fixes, LocateSettings
from landmark_tag.locating.locate import INPUT_COLUMNS, SOURCES, Located, locate
from landmark_tag.pipeline.commit.journal import PartJournal
from landmark_tag.pipeline.commit.sidecar import SidecarWriter
from landmark_tag.pipeline.commit.sidecar_sync import (
    SIDECAR_COLUMNS,
    SidecarsInStep,
    changed_rows,
    sync_sidecars,
)
from landmark_tag.pipeline.commit.write import ResultWriter
from landmark_tag.pipeline.execute.judge import Judge
from landmark_tag.pipeline.target import OutputTarget


def count_rejudged(previous: OutputTarget, judge: Judge) -> int:
    """How many rows of an existing output `judge` would give another status (another threshold
    than the run that wrote them); reads only the columns that judging needs."""
    columns = set(previous.columns())
    wanted: list[str] = [c for c in ("status", "model", "probability_1", "landmark_score") if c in columns]
    changes = 0
    for batch in previous.batches(columns=wanted):
        changes += judge.count_changes(pa.Table.from_batches([batch]))
    return changes


@dataclass
class MergeResult:
    rows: int  # in the new output
    rejudged: int  # carried-over rows whose status the current thresholds changed
    clocks: list[str] = field(default_factory=list)  # what the location pass learned of the clocks
    locations: dict[str, int] = field(default_factory=dict)  # rows of the output located, by source
    # Rows kept from earlier runs that had a location and have none now: their sources disagree now,
    # or the photos that placed them are gone (--prune).
    withdrawn: int = 0


def merge_output(
    journal: PartJournal,
    *,
    previous: bool,
    drop: set[str],
    judge: Judge | None = None,
    locating: LocateSettings | None = None,
    track: Fixes | None = None,
    sidecars: SidecarWriter | None = None,
    every_sidecar: bool = False,
) -> MergeResult:
    """Write the journal's target anew from its earlier output (with `previous`) and the committed
    parts: one row per path, the newest, less the paths in `drop`. With a `judge`, that model's
    carried-over rows are judged again at its thresholds; then every row gets its location
    (`locate`, with `locating` or the default limits, and the points of the GPS tracks given); with
    `sidecars`, the sidecars follow: the photos tagged now get theirs, and any photo whose location
    changed (with `every_sidecar`, every photo) has it brought up to date."""
    target, k = journal.target, journal.k
    staged = _merged(journal, previous, drop, judge)
    try:
        settings = locating or LocateSettings()
        rows, located, withdrawn = _located(staged, target, k, settings, track, sidecars, every_sidecar)
        return MergeResult(rows, staged.rejudged, located.clocks, located.sources, withdrawn)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged.path)


@dataclass
class _Staged:
    path: str  # the merged rows, Parquet, in a temporary file beside the output
    rejudged: int
    fresh_from: int  # the rows from here on are the parts' (tagged in this run); those before, earlier runs'


def _located(
    staged: _Staged,
    target: OutputTarget,
    k: int,
    settings: LocateSettings,
    track: Fixes | None,
    sidecars: SidecarWriter | None,
    every_sidecar: bool = False,  # --full, or the sidecars are not known to be in step
) -> tuple[int, Located, int]:
    """Publish the staged rows as the output, with every row's location set; returns the rows, what
    the location pass found, and how many earlier rows lost their location."""
    staged_columns = pq.read_table(staged.path, columns=INPUT_COLUMNS + SIDECAR_COLUMNS)  # one read
    located = locate(staged_columns, settings, track)
    locations = located.table
    in_step = SidecarsInStep(target)
    if sidecars is not None:  # before the publish: a crash in between writes them again
        sync_sidecars(staged_columns, locations, staged.fresh_from, sidecars, every_sidecar)
        in_step.mark()  # a sidecar that failed is reported (a protected file would fail every run)
    elif changed_rows(staged_columns, locations).any():
        in_step.clear()  # sidecars written by earlier runs now lag behind the output
    done = 0
    with ResultWriter(target, k) as writer:
        for batch in iter_result_batches(staged.path, "parquet"):
            table = pa.Table.from_batches([batch])
            for name in LOCATION_COLUMN_NAMES:
                column = locations.column(name).slice(done, table.num_rows)
                table = table.set_column(table.schema.get_field_index(name), name, column)
            writer.write_table(table)
            done += table.num_rows
        return writer.rows_written, located, _withdrawn(staged_columns, locations, staged.fresh_from)


def _withdrawn(before: pa.Table, after: pa.Table, fresh_from: int) -> int:
    """Rows of earlier runs (before `fresh_from`) that had a location and have none now."""
    had = before.column("location_source").slice(0, fresh_from).is_valid()
    now = after.column("location_source").slice(0, fresh_from).is_valid()
    return int(pc.sum(pc.and_(had, pc.invert(now))).as_py() or 0)


def _merged(journal: PartJournal, previous: bool, drop: set[str], judge: Judge | None) -> _Staged:
    target, k, parts = journal.target, journal.k, journal.existing()
    storage_options = target.storage_options
    # Where each path's newest row is: among parts, the latest `scanned_at` (part names order the
    # runs of one machine, but not the shards of a Ray run); any part beats `previous`, which
    # holds only rows of earlier, completed runs.
    newest: dict[str, tuple[int, int]] = {}
    for index, part in enumerate(parts):
        for batch in iter_result_batches(part, "parquet", storage_options, columns=["path", "scanned_at"]):
            scanned = pc.cast(batch.column("scanned_at"), pa.int64()).to_pylist()
            for path, when in zip(batch.column("path").to_pylist(), scanned, strict=True):
                if path not in newest or (when, index) >= newest[path]:
                    newest[path] = (when, index)
    replaced = pa.array(sorted(set(newest) | drop), pa.string())
    rejudged = 0

    def judged(table: pa.Table) -> pa.Table:
        nonlocal rejudged
        table = conform(table, k)
        if judge is None:
            return table
        table, changed = judge.rejudge_table(table)
        rejudged += changed
        return table

    # Staged as Parquet whatever the output's format: the location pass reads it back.
    writer = ResultWriter(OutputTarget(target.path, "parquet", storage_options), k, stage_only=True)
    with writer:
        if previous:
            for batch in target.batches():
                keep = pc.invert(pc.is_in(batch.column("path"), value_set=replaced))
                writer.write_table(judged(pa.Table.from_batches([batch]).filter(keep)))
        fresh_from = writer.rows_written
        for index, part in enumerate(parts):
            batches = list(iter_result_batches(part, "parquet", storage_options))
            if not batches:
                continue
            table = conform(pa.Table.from_batches(batches), k)
            keep = [newest[p][1] == index and p not in drop for p in table.column("path").to_pylist()]
            writer.write_table(judged(table.filter(pa.array(keep, pa.bool_()))))
    return _Staged(writer.staged, rejudged, fresh_from)


def commit_scan(
    journal: PartJournal,
    *,
    previous: bool,
    drop: set[str],
    judge: Judge,
    kept_rows: int,
    locating: LocateSettings | None = None,
    track: Fixes | None = None,
    sidecars: SidecarWriter | None = None,
    every_sidecar: bool = False,
) -> MergeResult:
    """The commit: merge the earlier output (with `previous`) and the journal's parts into the new
    output, less the paths in `drop`, then remove the parts. When there are no parts, nothing to
    drop, no earlier row that `judge` changes and the earlier output has its locations, it (of
    `kept_rows` rows) stays exactly as it is."""
    target = journal.target
    result = MergeResult(kept_rows, 0)
    # An output written before locations existed gets them now, with nothing else new.
    located = previous and "location_source" in target.columns()
    tracks = track is not None and len(track) > 0  # may be new: they can locate any row
    # Every sidecar is brought up to the output with --full, and where the sidecars are not known to
    # follow an earlier output (a run without --write-xmp moved locations, or one from before the mark).
    every_sidecar = sidecars is not None and (
        every_sidecar or (previous and not SidecarsInStep(target).exists())
    )
    if journal.existing() or drop or not located or tracks or every_sidecar or count_rejudged(target, judge):
        result = merge_output(
            journal,
            previous=previous,
            drop=drop,
            judge=judge,
            locating=locating,
            track=track,
            sidecars=sidecars,
            every_sidecar=every_sidecar,
        )
    else:  # the output stays as it is: its locations, counted
        result.locations = _count_sources(target)
    journal.clear()
    return result


def _count_sources(target: OutputTarget) -> dict[str, int]:
    counts: dict[str, int] = {}
    if "location_source" not in target.columns():
        return counts
    for batch in target.batches(columns=["location_source"]):
        for item in pc.value_counts(batch.column("location_source")).to_pylist():
            if item["values"] in SOURCES:
                counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
    return counts
