"""Copies beside their originals: a card of a photo located as a copy shows its original's
thumbnail next to its own, so that whoever reads the report sees what the scan matched."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.results import iter_result_batches, to_micros
from landmark_tag.report.thumbnails import ThumbnailRequest


def original_requests(
    results: str, results_format: str | None, storage_options: dict | None, present: Iterable[str]
) -> dict[str, ThumbnailRequest]:
    """The thumbnail request of every photo the output names as an original (`copy_of`), by path:
    two passes over a few columns; memory grows with the copies, not with the output."""
    if "copy_of" not in present:
        return {}

    def batches(columns: list[str]):
        return iter_result_batches(results, results_format, storage_options, columns)

    named: set[str] = set()
    for batch in batches(["copy_of"]):
        named.update(path for path in batch.column(0).drop_null().to_pylist())
    if not named:
        return {}
    wanted = pa.array(sorted(named), pa.string())
    found: dict[str, ThumbnailRequest] = {}
    for batch in batches(["path", "size_bytes", "modified_at"]):
        table = pa.Table.from_batches([batch]).filter(pc.is_in(batch.column("path"), value_set=wanted))
        for row in table.to_pylist():
            modified = row["modified_at"].timestamp() if row["modified_at"] else 0.0
            found[row["path"]] = ThumbnailRequest(row["path"], row["size_bytes"] or 0, to_micros(modified))
    return found
