"""What an earlier run already did, and so what this one must do.

The plan reads the earlier output and any part files an interrupted run committed (the parts count
like output), and compares them with the photos found: a photo counts as done when an earlier row
has the same path, size and modification time, and did not fail. Changed photos and failed ones are
processed again, and their new row replaces the old (see `commit.merge`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.errors import LandmarkTagError
from landmark_tag.files.discover import PhotoFile
from landmark_tag.files.results import Status, output_path, to_micros
from landmark_tag.pipeline.target import OutputTarget

KEY_COLUMNS = ["path", "status", "size_bytes", "modified_at", "model"]  # what the plan reads of a row


class IncompatibleOutputError(LandmarkTagError):
    """An existing output that this scan cannot extend (for example, another k)."""


@dataclass(frozen=True, slots=True)  # one per photo: no __dict__ each
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
    retried: int = 0  # failed before (or skipped for GPS, with include_gps; unseen by a model), again
    unchanged: int = 0
    removed: set[str] = field(default_factory=set)  # in the earlier output, no longer in the tree


def read_done(sources: Iterable[tuple[str, Callable[[], Iterable[pa.RecordBatch]]]]) -> dict[str, DoneEntry]:
    """path -> its latest row's key, from (name, its rows' KEY_COLUMNS) of the earlier output and
    the part files, in order: later sources win. The rows are read when their source's turn comes."""
    done: dict[str, DoneEntry] = {}
    models: dict = {}
    for name, batches in sources:
        try:
            for batch in batches():
                columns = batch.to_pydict()
                micros = pc.cast(batch.column("modified_at"), pa.int64()).to_pylist()
                for path, status, size, modified, model in zip(
                    columns["path"], columns["status"], columns["size_bytes"], micros, columns["model"],
                    strict=True,
                ):  # fmt: skip
                    # One string per model and status, not per row: the map holds every photo.
                    model, status = models.setdefault(model, model), models.setdefault(status, status)
                    done[path] = DoneEntry(size, modified, status, model)
        except (pa.ArrowException, OSError, KeyError, ValueError) as exc:
            raise IncompatibleOutputError(
                f"cannot read the existing {name} to continue from it ({exc}); "
                "move it away, or use --full to start over"
            ) from None
    return done


def plan_work(
    photos: list[PhotoFile], done: dict[str, DoneEntry], include_gps: bool = False, landmarks: bool = True
) -> WorkPlan:
    """Which photos to process: new, changed, failed before; with `include_gps`, those an earlier
    run skipped for their GPS; and, with `landmarks` (a model runs), those an earlier run without a
    model never looked at."""
    plan = WorkPlan()
    again = {Status.FAILED.value}
    again |= {Status.SKIPPED_GPS.value} if include_gps else set()
    again |= {Status.LANDMARKS_OFF.value} if landmarks else set()
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


def other_models(done: dict[str, DoneEntry], model: str) -> dict[str, int]:
    """How many earlier rows each other model made (rows it judged: not failed or skipped)."""
    counts: dict[str, int] = {}
    judged = {Status.TAGGED.value, Status.UNCERTAIN.value, Status.NO_LANDMARK.value}
    for entry in done.values():
        if entry.model and entry.model != model and entry.status in judged:
            counts[entry.model] = counts.get(entry.model, 0) + 1
    return counts


def check_k(target: OutputTarget, k: int) -> None:
    """Refuse to extend an earlier output with other top-k columns than this run's `k`."""
    out = target.path
    try:
        found = target.k()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise IncompatibleOutputError(
            f"cannot read the existing {out} to continue from it ({exc}); move it away, or use --full"
        ) from None
    if found != k:
        raise IncompatibleOutputError(
            f"{out} has top-{found} columns but this scan asks for --k {k}; "
            "use the same --k, another --out, or --full to start over"
        )
