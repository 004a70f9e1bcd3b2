"""The commit: the earlier output and the committed parts -> the new output, published in one
rename or upload. Each file is read once; the jobs on the way have their own modules: the newest row
of each path (`newest`), judging earlier rows again (`rejudge`), every row's location (`relocate`)
and the sidecars that follow (`sidecar_sync`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.results import LOCATION_COLUMN_NAMES
from landmark_tag.locating.fixes import Fixes, LocateSettings
from landmark_tag.locating.locate import INPUT_COLUMNS, SOURCES, locate
from landmark_tag.locating.photos import screenshots
from landmark_tag.pipeline.commit.copies import REPLACED_COLUMNS, CopySearch, find_copies
from landmark_tag.pipeline.commit.newest import NewestRows
from landmark_tag.pipeline.commit.rejudge import JUDGING_COLUMNS, Rejudge
from landmark_tag.pipeline.commit.relocate import count_withdrawn, located_batches
from landmark_tag.pipeline.commit.sidecar_files import SidecarWriter
from landmark_tag.pipeline.commit.sidecar_sync import (
    SIDECAR_COLUMNS,
    SidecarsInStep,
    changed_rows,
    sync_sidecars,
)
from landmark_tag.pipeline.commit.write import ResultWriter
from landmark_tag.pipeline.journal import PartJournal
from landmark_tag.pipeline.judge import Judge
from landmark_tag.pipeline.plan.scan_plan import ScanPlan
from landmark_tag.pipeline.resolve import ResolvedScan
from landmark_tag.pipeline.target import OutputTarget


@dataclass
class MergeResult:
    rows: int  # in the new output
    rejudged: int  # carried-over rows whose status the current thresholds changed
    clocks: list[str] = field(default_factory=list)  # what the location pass learned of the clocks
    locations: dict[str, int] = field(default_factory=dict)  # rows of the output located, by source
    # Rows kept from earlier runs that had a location and have none now: their sources disagree now,
    # or the photos that placed them are gone (--prune).
    withdrawn: int = 0
    copies_checked: int = 0  # candidate pairs the copy pass compared by their pixels


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
    copies: CopySearch | None = None,
) -> MergeResult:
    """Write the journal's target anew from its earlier output (with `previous`) and the committed
    parts: one row per path, the newest, less the paths in `drop`. With a `judge`, that model's
    carried-over rows are judged again at its thresholds; then every row gets its location
    (`locate`, with `locating` or the default limits, and the points of the GPS tracks given); with
    `sidecars`, the sidecars follow: the photos tagged now get theirs, and any photo whose location
    changed (with `every_sidecar`, every photo) has it brought up to date. `copies` says how the
    copy pass reads the photos and whether it looks for new copies (without it, none)."""
    target, k = journal.target, journal.k
    staged = _staged(journal, previous, drop, judge)
    try:
        found = find_copies(
            staged.columns, staged.fresh_from, copies or CopySearch(search=False), staged.replaced
        )
        located = locate(staged.columns, locating or LocateSettings(), track, found.original)
        in_step = SidecarsInStep(target)
        if sidecars is not None:  # before the publish: a crash in between writes them again
            sync_sidecars(staged.columns, located.table, staged.fresh_from, sidecars, every_sidecar)
            in_step.mark()  # a sidecar that failed is reported (a protected file would fail every run)
        elif changed_rows(staged.columns, located.table).any():
            in_step.clear()  # sidecars written by earlier runs now lag behind the output
        with ResultWriter(target, k) as writer:
            files = [(staged.earlier, None), (staged.fresh, staged.fresh_keep)]
            for table in located_batches(files, located.table):
                writer.write_table(table)
        withdrawn = count_withdrawn(staged.columns, located.table, staged.fresh_from)
        return MergeResult(
            writer.rows_written, staged.rejudged, located.clocks, located.sources, withdrawn, found.checked
        )
    finally:
        staged.remove()


@dataclass
class _Staged:
    """The merged rows before they are located: the earlier output's kept rows and then the parts'
    (tagged in this run), each in a temporary Parquet file beside the output, read once more to
    publish; and the columns the location pass needs, of every row kept, in memory."""

    earlier: str
    fresh: str
    fresh_keep: np.ndarray  # which of the parts' rows are kept (the newest of each path, not dropped)
    columns: pa.Table  # INPUT_COLUMNS and SIDECAR_COLUMNS of the rows kept, earlier ones first
    fresh_from: int  # rows kept from earlier runs; the parts' follow
    rejudged: int
    replaced: pa.Table  # the earlier rows the parts replace: path and what the copy pass kept of them

    def remove(self) -> None:
        for path in (self.earlier, self.fresh):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _staged(journal: PartJournal, previous: bool, drop: set[str], judge: Judge | None) -> _Staged:
    """Read each part, and the earlier output (with `previous`), once: stage their rows, learn
    which part rows are newest, and keep the columns that locating needs."""
    target, k = journal.target, journal.k
    rejudge, newest = Rejudge(k, judge), NewestRows()
    wanted = INPUT_COLUMNS + [c for c in SIDECAR_COLUMNS if c not in INPUT_COLUMNS]
    fresh_columns: list[pa.Table] = []
    earlier_columns: list[pa.Table] = []
    replaced_columns: list[pa.Table] = []
    # Staged as Parquet whatever the output's format, and local for a bucket's output.
    stage = OutputTarget(target.path, "parquet", target.storage_options)
    with ResultWriter(stage, k, stage_only=True) as fresh:
        for index, part_table in enumerate(journal.read_parts(journal.existing())):
            if part_table.num_rows:
                table = rejudge(part_table)
                newest.add(table, index)
                fresh.write_table(table)
                fresh_columns.append(table.select(wanted))
    try:
        if not previous and target.exists():  # --full: every row is replaced, none carried over
            replaced_columns += _earlier_copy_columns(target)
        replaced = pa.array(sorted(newest.paths() | drop), pa.string())
        with ResultWriter(stage, k, stage_only=True) as earlier:
            for batch in target.batches() if previous else ():
                keep = pc.invert(pc.is_in(batch.column("path"), value_set=replaced))
                everything = pa.Table.from_batches([batch])
                replaced_columns.append(_copy_columns(everything).filter(pc.invert(keep)))
                table = rejudge(everything.filter(keep))
                earlier.write_table(table)
                earlier_columns.append(table.select(wanted))
    except BaseException:
        os.unlink(fresh.staged)
        raise
    keep = newest.keep(drop)
    none = rejudge.schema.empty_table().select(wanted)
    kept_fresh = pa.concat_tables(fresh_columns or [none]).filter(pa.array(keep))
    columns = pa.concat_tables([none, *earlier_columns, kept_fresh])
    earlier_copies = pa.concat_tables([_copy_columns(none), *replaced_columns])
    return _Staged(
        earlier.staged, fresh.staged, keep, columns, earlier.rows_written, rejudge.changed, earlier_copies
    )


def _earlier_copy_columns(target: OutputTarget) -> list[pa.Table]:
    """What the copy pass keeps of an output that --full replaces whole; nothing where it cannot be
    read (--full is also how an unreadable output is replaced)."""
    try:
        present = [c for c in REPLACED_COLUMNS if c in target.columns()]
        if "picture_hashes" not in present:
            return []
        return [_copy_columns(pa.Table.from_batches([b])) for b in target.batches(columns=present)]
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return []


def _copy_columns(table: pa.Table) -> pa.Table:
    """What the copy pass needs of an earlier row that a part replaces (outputs from before copies
    lack the columns: empty)."""
    return pa.table(
        {
            name: table.column(name) if name in table.column_names else pa.nulls(table.num_rows, pa.string())
            for name in REPLACED_COLUMNS
        }
    )


def commit_scan(plan: ScanPlan, scan: ResolvedScan, sidecars: SidecarWriter | None = None) -> MergeResult:
    """The commit: merge the earlier output and the parts the engine committed into the new output
    (less the removed photos with --prune), then remove the parts. When there are no parts, nothing
    to drop, no earlier row that the thresholds change and the earlier output has its locations, it
    stays exactly as it is. With `sidecars`, the sidecars follow (`merge_output`)."""
    journal, work, previous = plan.journal, plan.work, plan.previous
    target = journal.target
    drop = work.removed if scan.given.prune else set()
    result = MergeResult(work.unchanged + len(work.removed), 0)
    # An output written before locations (or their place names, or when the photos were taken)
    # existed gets them now, with nothing else new.
    located = previous and {*LOCATION_COLUMN_NAMES, "taken_at_source"} <= set(target.columns())
    # Tracks may be new: they can locate any row; and places may be new: they can name any row.
    any_row_may_change = (
        plan.track is not None and len(plan.track) > 0
    ) or scan.locating.named_places is not None
    # Every sidecar is brought up to the output with --full (a deleted or restored sidecar is
    # repaired too), and where the sidecars are not known to follow an earlier output (a run without
    # --write-xmp moved locations, or one from before the mark), or the output had no place names.
    every_sidecar = sidecars is not None and (
        scan.given.full or (previous and (not located or not SidecarsInStep(target).exists()))
    )
    new = journal.existing() or drop or not located or any_row_may_change or every_sidecar
    # Screenshots are placed by time only with --locate-screenshots: a run with it places them, and a
    # run without it takes out what an earlier one placed.
    earlier = None if new or scan.locating.locate_screenshots else _survey(target, scan.judge)
    if earlier is not None and not earlier.rejudged and not _screenshots_placed(target, earlier):
        result.locations = earlier.sources  # the output stays as it is: its locations, counted
    else:
        result = merge_output(
            journal,
            previous=previous,
            drop=drop,
            judge=scan.judge,
            locating=scan.locating,
            track=plan.track,
            sidecars=sidecars,
            every_sidecar=every_sidecar,
            copies=CopySearch(scan.given.copies, scan.given.storage_options, scan.given.max_pixels),
        )
    journal.clear()
    return result


@dataclass
class _Earlier:
    """What an earlier output says about whether it must be written again, and its locations."""

    rejudged: int = 0  # rows the thresholds in force would give another status
    sources: dict[str, int] = field(default_factory=dict)  # rows located, by source
    placed_without_camera: bool = False  # rows naming no camera placed by time or a track


def _survey(target: OutputTarget, judge: Judge | None) -> _Earlier:
    """One pass over the few columns of an earlier output that decide whether it stays as it is."""
    names = set(target.columns())
    judging = [c for c in JUDGING_COLUMNS if c in names] if judge is not None else []
    locating = [c for c in ("location_source", "camera") if c in names]
    found = _Earlier()
    for batch in target.batches(columns=[*judging, *locating]):
        table = pa.Table.from_batches([batch])
        if judge is not None:
            found.rejudged += judge.count_changes(table.select(judging))
        if "location_source" not in names:
            continue
        source = table.column("location_source")
        for item in pc.value_counts(source).to_pylist():
            if item["values"] in SOURCES:
                found.sources[item["values"]] = found.sources.get(item["values"], 0) + item["counts"]
        if "camera" in names:
            by_time = pc.fill_null(pc.is_in(source, value_set=pa.array(["time", "track"])), False)
            found.placed_without_camera |= bool(
                pc.any(pc.and_(by_time, pc.is_null(table.column("camera")))).as_py()
            )
    return found


def _screenshots_placed(target: OutputTarget, earlier: _Earlier) -> bool:
    """Whether an earlier run placed screenshots by time or a track (with --locate-screenshots). The
    paths are read only where the survey found photos naming no camera placed so."""
    if not earlier.placed_without_camera:
        return False
    for batch in target.batches(columns=["path", "camera", "location_source"]):
        table = pa.Table.from_batches([batch])
        by_time = pc.is_in(table.column("location_source"), value_set=pa.array(["time", "track"]))
        if (screenshots(table) & pc.fill_null(by_time, False).to_numpy(zero_copy_only=False)).any():
            return True
    return False
