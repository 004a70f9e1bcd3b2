"""Write one row per photo to the output, Parquet or CSV, atomically.

Rows stream into a temporary file (beside a local output, in the temp folder for a bucket) and are
flushed in row groups, so memory stays flat however many photos there are. Only `close()` moves the
finished file over the output, in one rename or one upload: an interrupted write leaves the previous
output exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from landmark_tag.files.results import (
    ResultRow,
    conform,
    result_schema,
    rows_to_table,
    spreadsheet_safe,
)
from landmark_tag.files.storage import publish, staging_file
from landmark_tag.pipeline.target import OutputTarget


class ResultWriter:
    """Streams rows to a temporary file; `close()` publishes it atomically, `abort()` discards it."""

    def __init__(
        self, target: OutputTarget, k: int, rows_per_group: int = 4096, stage_only: bool = False
    ) -> None:
        # With `stage_only`, close() leaves the finished file where it was written (`staged`), for
        # a later pass to read, instead of publishing it.
        self.stage_only = stage_only
        self.path = target.path
        self.format = target.format
        self.k = k
        self.rows_per_group = rows_per_group
        self.rows_written = 0
        self.storage_options = target.storage_options
        self._pending: list[ResultRow] = []
        tmp_name = staging_file(self.path)
        self._tmp_path = Path(tmp_name)
        self.staged = tmp_name
        schema = result_schema(k)
        if self.format == "parquet":
            self._writer = pq.ParquetWriter(tmp_name, schema, compression="zstd")
        else:
            options = pa_csv.WriteOptions(
                quoting_style="needed", quoting_header="none"
            )  # our column names never need quotes
            self._writer = pa_csv.CSVWriter(tmp_name, schema, write_options=options)

    def write(self, rows: Iterable[ResultRow]) -> None:
        self._pending.extend(rows)
        if len(self._pending) >= self.rows_per_group:
            self._flush()

    def write_table(self, table: pa.Table) -> None:
        """Write rows that are already in the output schema (carried over from earlier runs)."""
        self._flush()
        if table.num_rows:
            self._write(conform(table, self.k).cast(result_schema(self.k)))

    def _flush(self) -> None:
        if self._pending:
            self._write(rows_to_table(self._pending, self.k))
            self._pending = []

    def _write(self, table: pa.Table) -> None:
        self._writer.write_table(spreadsheet_safe(table) if self.format == "csv" else table)
        self.rows_written += table.num_rows

    def close(self) -> str:
        """Flush, close and move the finished file over the output path."""
        self._flush()
        self._writer.close()
        if self.stage_only:
            return self.staged
        publish(str(self._tmp_path), self.path, self.storage_options)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; the output path is left untouched."""
        try:
            self._writer.close()
        finally:
            self._tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
