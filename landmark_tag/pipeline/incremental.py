"""Incremental, crash-safe output.

A scan commits its rows as it goes: every 64 rows (`--commit-every`) become one small Parquet
part file in `<out>.parts/`, written whole or not at all. The output itself is rewritten only at the end, by
merging the previous output with the parts, and then the parts are removed. So after a crash:

- the previous output is intact (it is replaced only by a completed merge);
- the parts hold everything done before the crash, less at most the rows not yet committed (an
  interrupted or failing scan commits what it has before it stops; only `kill -9` or a power cut
  loses them);
- rerunning treats the parts like earlier output, so only the rest of the work is done.

A photo counts as done when an earlier row has the same path, size and modification time, and did
not fail. Changed photos and failed ones are processed again, and their new row replaces the old.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from landmark_tag.errors import ConfigError, LandmarkTagError
from landmark_tag.pipeline.discover import PhotoFile
from landmark_tag.pipeline.judge import Judge
from landmark_tag.pipeline.write import ResultWriter
from landmark_tag.results import (
    ResultRow,
    Status,
    conform,
    iter_result_batches,
    output_path,
    result_columns,
    result_k,
    rows_to_table,
    to_micros,
)
from landmark_tag.storage import (
    filesystem,
    is_url,
    local_path,
    publish,
    remove_file,
    remove_tree,
    staging_file,
)

_KEY_COLUMNS = ["path", "status", "size_bytes", "modified_at", "model"]


class IncompatibleOutputError(LandmarkTagError):
    """An existing output that this scan cannot extend (for example, another k)."""


@dataclass(frozen=True)
class DoneEntry:
    size_bytes: int
    modified_us: int
    status: str
    model: str | None = None  # the model that made the row


@dataclass
class WorkPlan:
    """What this run must process, and how the tree compares with the earlier output."""

    to_process: list[PhotoFile] = field(default_factory=list)
    new: int = 0
    changed: int = 0
    retried: int = 0  # failed before (or skipped for GPS, with include_gps), tried again
    unchanged: int = 0
    removed: set[str] = field(default_factory=set)  # in the earlier output, no longer in the tree


def read_done(
    sources: Iterable[tuple[str, str | None]], storage_options: dict | None = None
) -> dict[str, DoneEntry]:
    """path -> its latest row's key, from (file, format) sources in order; later sources win."""
    done: dict[str, DoneEntry] = {}
    models: dict = {}
    for path, fmt in sources:
        try:
            for batch in iter_result_batches(path, fmt, storage_options, columns=_KEY_COLUMNS):
                columns = batch.to_pydict()
                micros = pc.cast(batch.column("modified_at"), pa.int64()).to_pylist()
                for name, status, size, modified, model in zip(
                    columns["path"], columns["status"], columns["size_bytes"], micros, columns["model"],
                    strict=True,
                ):  # fmt: skip
                    # One string per model and status, not per row: the map holds every photo.
                    model, status = models.setdefault(model, model), models.setdefault(status, status)
                    done[name] = DoneEntry(size, modified, status, model)
        except (pa.ArrowException, OSError, KeyError, ValueError) as exc:
            raise IncompatibleOutputError(
                f"cannot read the existing {path} to continue from it ({exc}); "
                "move it away, or use --full to start over"
            ) from None
    return done


def plan_work(photos: list[PhotoFile], done: dict[str, DoneEntry], include_gps: bool = False) -> WorkPlan:
    """Which photos to process: new, changed, failed before, and, with `include_gps`, those an
    earlier run skipped for their GPS."""
    plan = WorkPlan()
    again = {Status.FAILED.value, Status.SKIPPED_GPS.value} if include_gps else {Status.FAILED.value}
    for photo in photos:
        entry = done.get(output_path(photo.path))
        if entry is None:
            plan.new += 1
        elif entry.size_bytes != photo.size_bytes or entry.modified_us != to_micros(photo.modified_at):
            plan.changed += 1
        elif entry.status in again:
            plan.retried += 1
        else:
            plan.unchanged += 1
            continue
        plan.to_process.append(photo)
    found = {output_path(photo.path) for photo in photos}
    plan.removed = {path for path in done if path not in found}
    return plan


DEFAULT_COMMIT_ROWS = 64

# `--prune` refuses to drop more than this share of the earlier rows (and refuses outright when the
# tree is empty) without `--force-prune`: an unmounted disk or a wrong bucket prefix looks, to a
# scan, exactly like every photo deleted.
MAX_PRUNE_SHARE = 0.5


class PruneRefusedError(LandmarkTagError):
    """`--prune` would drop so many rows that the inputs are more likely missing than the photos."""


def check_prune(found: int, removed: int, earlier_rows: int, inputs: list[str]) -> None:
    """Refuse a prune of `removed` of `earlier_rows` rows when it looks like a missing tree rather
    than deleted photos; nothing has been changed when this raises."""
    if removed == 0:
        return
    where = ", ".join(inputs)
    if found == 0:
        raise PruneRefusedError(
            f"--prune refused: no photos were found under {where}, so every one of the {removed:,} "
            "rows of the earlier output would be dropped (an unmounted disk or a wrong bucket prefix "
            "looks the same); check the inputs, or add --force-prune if the photos really are gone. "
            "Nothing was changed"
        )
    if removed > MAX_PRUNE_SHARE * earlier_rows:
        raise PruneRefusedError(
            f"--prune refused: {removed:,} of the {earlier_rows:,} rows of the earlier output "
            f"({removed / earlier_rows:.0%}) are of photos no longer found under {where}, more than "
            f"the {MAX_PRUNE_SHARE:.0%} a prune drops without --force-prune; check the inputs, or add "
            "--force-prune if the photos really are gone. Nothing was changed"
        )


class PartJournal:
    """The `<out>.parts/` folder of committed rows, local or in a bucket.

    Rows are committed `commit_rows` at a time (and whatever is left by `flush`): a crash redoes at
    most that many photos, and a scan of N photos leaves about N / commit_rows files (objects, in
    a bucket) behind until the final merge.
    """

    def __init__(
        self,
        out: str,
        k: int,
        storage_options: dict | None = None,
        commit_rows: int = DEFAULT_COMMIT_ROWS,
        run_id: str | None = None,
    ) -> None:
        if commit_rows < 1:
            raise ConfigError("commit_rows (--commit-every) must be at least 1")
        self.folder = f"{out}.parts"
        self.k = k
        self.storage_options = storage_options
        self.commit_rows = commit_rows
        self._pending: list[ResultRow] = []
        # Start time first, so part names sort oldest run first; the pid keeps runs apart. Ray's
        # model actors are handed the driver's, so that all of a run's parts carry one name.
        self.run_id = run_id or f"{time.time_ns():020d}-{os.getpid()}"
        self.sequence = 0

    def existing(self) -> list[str]:
        """Committed part files, oldest first (names sort by run start time, then sequence)."""
        if is_url(self.folder):
            fs, inner = filesystem(self.folder, self.storage_options)
            if not fs.exists(inner):
                return []
            names = [fs.unstrip_protocol(p) for p in fs.ls(inner, detail=False)]
        else:
            folder = local_path(self.folder)
            names = [os.path.join(folder, n) for n in os.listdir(folder)] if os.path.isdir(folder) else []
        return sorted(n for n in names if os.path.basename(n).startswith("part-") and n.endswith(".parquet"))

    def add(self, rows: list[ResultRow]) -> None:
        """Take a batch's rows; commit once `commit_rows` are waiting."""
        self._pending.extend(rows)
        if len(self._pending) >= self.commit_rows:
            self.flush()

    def flush(self) -> None:
        """Commit every waiting row."""
        if self._pending:
            self.commit(self._pending)
            self._pending = []

    def commit(self, rows: list[ResultRow], shard: int | None = None) -> str:
        """Write rows as a new part file, atomically, and return its name. With `shard` (Ray), the
        name is the shard's: a retried shard replaces its own part instead of adding a second."""
        if shard is None:
            self.sequence += 1
            name = f"part-{self.run_id}-{self.sequence:06d}.parquet"
        else:
            name = f"part-{self.run_id}-shard-{shard:06d}.parquet"
        target = f"{self.folder}/{name}"
        tmp = staging_file(target)  # a hidden name: existing() never lists a half-written part
        pq.write_table(rows_to_table(rows, self.k), tmp)
        publish(tmp, target, self.storage_options)
        return target

    def clear(self) -> None:
        remove_tree(self.folder, self.storage_options)

    def discard_other_k(self) -> int:
        """Remove committed parts of an interrupted run with another --k, which could never be
        merged into this output; return how many there were."""
        stale = [
            part for part in self.existing() if result_k(part, "parquet", self.storage_options) != self.k
        ]
        for part in stale:
            remove_file(part, self.storage_options)
        return len(stale)


def other_models(done: dict[str, DoneEntry], model: str) -> dict[str, int]:
    """How many earlier rows each other model made (rows it judged: not failed or skipped)."""
    counts: dict[str, int] = {}
    judged = {Status.TAGGED.value, Status.UNCERTAIN.value, Status.NO_LANDMARK.value}
    for entry in done.values():
        if entry.model and entry.model != model and entry.status in judged:
            counts[entry.model] = counts.get(entry.model, 0) + 1
    return counts


def check_k(out: str, fmt: str | None, k: int, storage_options: dict | None) -> None:
    try:
        found = result_k(out, fmt, storage_options)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise IncompatibleOutputError(
            f"cannot read the existing {out} to continue from it ({exc}); move it away, or use --full"
        ) from None
    if found != k:
        raise IncompatibleOutputError(
            f"{out} has top-{found} columns but this scan asks for --k {k}; "
            "use the same --k, another --out, or --full to start over"
        )


def count_rejudged(previous: str, fmt: str | None, judge: Judge, storage_options: dict | None) -> int:
    """How many rows of an existing output `judge` would give another status (another threshold
    than the run that wrote them); reads only the columns that judging needs."""
    columns = set(result_columns(previous, fmt, storage_options))
    wanted: list[str] = [c for c in ("status", "model", "probability_1", "landmark_score") if c in columns]
    changes = 0
    for batch in iter_result_batches(previous, fmt, storage_options, columns=wanted):
        changes += judge.count_changes(pa.Table.from_batches([batch]))
    return changes


@dataclass
class MergeResult:
    rows: int  # in the new output
    rejudged: int  # carried-over rows whose status the current thresholds changed


def merge_output(
    out: str,
    fmt: str | None,
    k: int,
    previous: str | None,
    parts: list[str],
    drop: set[str],
    storage_options: dict | None = None,
    judge: Judge | None = None,
) -> MergeResult:
    """Write previous output + parts as the new output (one row per path, newest wins). With a
    `judge`, that model's carried-over rows are judged again at its thresholds."""
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

    with ResultWriter(out, k, fmt, storage_options=storage_options) as writer:
        if previous is not None:
            for batch in iter_result_batches(previous, fmt, storage_options):
                keep = pc.invert(pc.is_in(batch.column("path"), value_set=replaced))
                writer.write_table(judged(pa.Table.from_batches([batch]).filter(keep)))
        for index, part in enumerate(parts):
            batches = list(iter_result_batches(part, "parquet", storage_options))
            if not batches:
                continue
            table = conform(pa.Table.from_batches(batches), k)
            keep = [newest[p][1] == index and p not in drop for p in table.column("path").to_pylist()]
            writer.write_table(judged(table.filter(pa.array(keep, pa.bool_()))))
        return MergeResult(writer.rows_written, rejudged)
