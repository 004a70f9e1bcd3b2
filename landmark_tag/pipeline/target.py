"""The scan's output as one object: where it is, its format, and how to reach it.

The plan reads it (is there an earlier output, with which k), the lock guards it, the journal
commits parts beside it and the merge publishes it: all through an `OutputTarget`, so the output's
path, format and fsspec options are decided once and never travel apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from landmark_tag.files.results import iter_result_batches, output_format, result_columns, top_k_of
from landmark_tag.files.storage import exists


@dataclass(frozen=True)
class OutputTarget:
    path: str  # a local path or an fsspec URL (s3://bucket/tags.parquet)
    format: str  # parquet or csv
    storage_options: dict[str, Any] | None = field(default=None, hash=False)  # fsspec options

    @classmethod
    def at(
        cls, path: str, fmt: str | None = None, storage_options: dict[str, Any] | None = None
    ) -> OutputTarget:
        """The target at `path`, in `fmt` or the format its suffix names (refused when unknown)."""
        return cls(str(path), output_format(str(path), fmt), storage_options)

    @property
    def parts_folder(self) -> str:
        """Where rows are committed as part files until the merge."""
        return f"{self.path}.parts"

    def exists(self) -> bool:
        return exists(self.path, self.storage_options)

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The output's rows, streamed (see `results.iter_result_batches`)."""
        return iter_result_batches(self.path, self.format, self.storage_options, columns=columns)

    def columns(self) -> list[str]:
        return result_columns(self.path, self.format, self.storage_options)

    def k(self) -> int:
        """How many top-k columns the existing output has."""
        return top_k_of(self.columns())
