"""The commit's merge: the earlier output and the committed parts -> the new output, published
in one rename or upload. Rows the current model made earlier are judged again on the way, so new
thresholds apply to the whole output without running the model; then every row is located again
(`locate`), since a new photo with GPS can locate photos written on earlier runs.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from landmark_tag.locating.fixes import Fixes, LocateSettings
from landmark_tag.locating.locate import INPUT_COLUMNS, SOURCES, Located, floats, locate
from landmark_tag.pipeline.commit.journal import PartJournal
from landmark_tag.pipeline.commit.sidecar import SidecarTag, SidecarWriter
from landmark_tag.pipeline.commit.write import ResultWriter
from landmark_tag.pipeline.execute.judge import Judge
from landmark_tag.pipeline.target import OutputTarget
from landmark_tag.results import LOCATION_COLUMN_NAMES, Status, conform, iter_result_batches
from landmark_tag.storage import exists, publish, remove_file, staging_file


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
    every_sidecar: bool = False,
) -> tuple[int, Located, int]:
    """Publish the staged rows as the output, with every row's location set; returns the rows, what
    the location pass found, and how many earlier rows lost their location."""
    staged_columns = pq.read_table(staged.path, columns=INPUT_COLUMNS + _SIDECAR_COLUMNS)  # one read
    located = locate(staged_columns, settings, track)
    locations = located.table
    pending = SidecarsPending(target)
    if sidecars is not None:  # before the publish: a crash in between writes them again
        # --full, or a run without --write-xmp moved locations: every sidecar is brought up to date.
        every_row = every_sidecar or pending.exists()
        _write_sidecars(staged_columns, locations, staged.fresh_from, sidecars, every_row)
        if every_row and not sidecars.stats.failed and pending.exists():
            pending.clear()
    elif _changed(staged_columns, locations).any():
        pending.mark()  # sidecars written by earlier runs may now lag behind the output
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


_SIDECAR_COLUMNS = [
    "path", "landmark_1", "estimated_country", "location_latitude", "location_longitude", "location_source",
    "location_note",
]  # fmt: skip


class SidecarsPending:
    """`<out>.sidecars-pending`: a run without --write-xmp changed locations, so sidecars written by
    earlier runs may lag behind the output; the next run with --write-xmp brings every one up to
    date (a sidecar already right is read, not written) and removes the mark."""

    def __init__(self, target: OutputTarget) -> None:
        self.path, self.storage_options = f"{target.path}.sidecars-pending", target.storage_options

    def exists(self) -> bool:
        return exists(self.path, self.storage_options)

    def mark(self) -> None:
        if self.exists():
            return
        tmp = staging_file(self.path)
        try:
            with open(tmp, "w") as handle:
                handle.write("locations changed without --write-xmp: the next run with it updates sidecars\n")
            publish(tmp, self.path, self.storage_options)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def clear(self) -> None:
        remove_file(self.path, self.storage_options)


def _withdrawn(before: pa.Table, after: pa.Table, fresh_from: int) -> int:
    """Rows of earlier runs (before `fresh_from`) that had a location and have none now."""
    had = before.column("location_source").slice(0, fresh_from).is_valid()
    now = after.column("location_source").slice(0, fresh_from).is_valid()
    return int(pc.sum(pc.and_(had, pc.invert(now))).as_py() or 0)


def _ours(after: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source, latitude, longitude) of the location that belongs in each sidecar: the row's, unless
    it is the photo's own GPS (the photo says it itself)."""
    source = np.asarray(after.column("location_source").to_pylist(), dtype=object)
    source[source == "gps"] = None
    return source, floats(after.column("location_latitude")), floats(after.column("location_longitude"))


def _changed(before: pa.Table, after: pa.Table) -> np.ndarray:
    """Per row, whether what belongs in its sidecar differs from what earlier runs may have put there."""
    held_source, held_lat, held_lon = _held(before)
    source, lat, lon = _ours(after)
    ours, held = source != None, held_source != None  # noqa: E711 (elementwise)
    moved = ~np.isclose(lat, held_lat, rtol=0.0, atol=1e-7) | ~np.isclose(lon, held_lon, rtol=0.0, atol=1e-7)
    return (ours != held) | (ours & held & ((source != held_source) | moved))


def _write_sidecars(
    before: pa.Table, after: pa.Table, fresh_from: int, sidecars: SidecarWriter, every_row: bool = False
) -> None:
    """Bring the sidecars up to the published output, each written at most once. The rows from
    `fresh_from` on were tagged in this run: a tagged one gets its landmark, country and location.
    Any other row's sidecar changes only when its location did (with `every_row`, every row's is
    brought up to date): what it may hold of ours is the row's earlier location, or for a tagged row
    without one, its landmark's place; what it should hold is the new location, unless that is the
    photo's own GPS. A location now found is written, one that no longer holds is taken out
    (`remove_location`)."""
    source, lat, lon = _ours(after)
    changed = np.ones(before.num_rows, dtype=bool) if every_row else _changed(before, after)
    tagged_now = _tagged(before) & (np.arange(before.num_rows) >= fresh_from)
    rows = np.flatnonzero(changed | tagged_now)
    picked = before.select(["path", "landmark_1", "estimated_country"]).take(pa.array(rows)).to_pylist()
    radius = floats(after.column("location_radius_m"))
    tags = []
    for index, row in zip(rows, picked, strict=True):
        keyword, code = (row["landmark_1"], row["estimated_country"]) if tagged_now[index] else (None, None)
        if source[index] is None:
            # Withheld (its sources disagree): the landmark's country is as doubtful as its place.
            code = code if not np.isnan(lat[index]) else None  # (own GPS: the landmark agrees with it)
            tag = SidecarTag(keyword, country_code=code, remove_location=True)
        else:
            method = f"landmark-tag: {source[index]}"
            if source[index] != "landmark":
                method += f", within {radius[index]:,.0f} m"
            at = (float(lat[index]), float(lon[index]))
            tag = SidecarTag(keyword, *at, code, method=method, radius_m=float(radius[index]))
        tags.append((row["path"], tag))
    sidecars.write_tags(tags)


def _tagged(table: pa.Table) -> np.ndarray:
    return np.asarray(
        pc.equal(table.column("status"), Status.TAGGED.value).to_numpy(zero_copy_only=False), dtype=bool
    )


def _held(before: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source, latitude, longitude) of the location landmark-tag may have put in each sidecar: the
    row's location, or for a tagged row without one or a note why (an output older than the
    location columns, whose sidecars were written at tagging), its landmark's place. A row whose
    location was withheld (its note says why) had it taken out of the sidecar by that commit."""
    source = np.asarray(before.column("location_source").to_pylist(), dtype=object)
    noted = np.asarray(before.column("location_note").to_pylist(), dtype=object) != None  # noqa: E711
    source[source == "gps"] = None
    lat, lon = floats(before.column("location_latitude")), floats(before.column("location_longitude"))
    tagged = _tagged(before)
    landmark_lat, landmark_lon = (
        floats(before.column("estimated_latitude")),
        floats(before.column("estimated_longitude")),
    )
    by_tagging = (source == None) & ~noted & tagged & ~np.isnan(landmark_lat)  # noqa: E711
    source[by_tagging] = "landmark"
    return source, np.where(by_tagging, landmark_lat, lat), np.where(by_tagging, landmark_lon, lon)


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
    catch_up = sidecars is not None and (every_sidecar or SidecarsPending(target).exists())
    if journal.existing() or drop or not located or tracks or catch_up or count_rejudged(target, judge):
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
