"""Copies beside their originals: a card of a photo located as a copy shows its original's
thumbnail next to its own, so that whoever reads the report sees what the scan matched."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.results import iter_result_batches
from landmark_tag.report.thumbnails import ThumbnailRequest


def original_requests(
    results: str, results_format: str | None, storage_options: dict | None, originals: set[str]
) -> dict[str, ThumbnailRequest]:
    """The thumbnail request of each of `originals` (the paths the output names in `copy_of`,
    gathered by the report's first pass), by path: one more pass over three columns; memory grows
    with the copies, not with the output."""
    if not originals:
        return {}
    wanted = pa.array(sorted(originals), pa.string())
    found: dict[str, ThumbnailRequest] = {}
    columns = ["path", "size_bytes", "modified_at"]
    for batch in iter_result_batches(results, results_format, storage_options, columns):
        table = pa.Table.from_batches([batch]).filter(pc.is_in(batch.column("path"), value_set=wanted))
        for row in table.to_pylist():
            found[row["path"]] = ThumbnailRequest.of_row(row)
    return found
