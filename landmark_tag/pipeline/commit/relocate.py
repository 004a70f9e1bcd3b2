"""The location join: every row of the new output gets the location the whole output gives it now
(`locate`), since a new photo with GPS or a new track can place photos written on earlier runs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.results import iter_result_batches


def located_batches(staged: list[tuple[str, np.ndarray | None]], locations: pa.Table) -> Iterator[pa.Table]:
    """The staged files' rows, in order, each with its row of `locations` in the columns it has (the
    location columns, and when each photo was taken in UTC).
    `staged`: (Parquet file, which of its rows to keep or None for all); `locations` has a row for
    each row kept."""
    done = 0
    for path, keep in staged:
        start = 0
        for batch in iter_result_batches(path, "parquet"):
            table = pa.Table.from_batches([batch])
            if keep is not None:
                table = table.filter(pa.array(keep[start : start + table.num_rows]))
                start += batch.num_rows
            for name in locations.column_names:
                column = locations.column(name).slice(done, table.num_rows)
                table = table.set_column(table.schema.get_field_index(name), name, column)
            done += table.num_rows
            yield table


def count_withdrawn(before: pa.Table, after: pa.Table, fresh_from: int) -> int:
    """Rows of earlier runs (before `fresh_from`) that had a location and have none now: their
    sources disagree now, or the photos that placed them are gone (--prune)."""
    had = before.column("location_source").slice(0, fresh_from).is_valid()
    now = after.column("location_source").slice(0, fresh_from).is_valid()
    return int(pc.sum(pc.and_(had, pc.invert(now))).as_py() or 0)
