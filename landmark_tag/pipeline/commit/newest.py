"""Which row of each path the commit keeps: among the parts, the one scanned last (part names order
one machine's runs, but not the shards of a Ray run); any part's row beats the earlier output's,
which holds only rows of earlier, completed runs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class NewestRows:
    """Fed the parts' rows in order (`add`), it says which of them to keep (`keep`)."""

    def __init__(self) -> None:
        self._newest: dict[str, tuple[int, int, int]] = {}  # path -> (scanned_at, part, row position)
        self.rows = 0

    def add(self, table: pa.Table, part: int) -> None:
        """The rows of part number `part` (parts numbered in journal order)."""
        scanned = pc.cast(table.column("scanned_at"), pa.int64()).to_pylist()
        newest = self._newest
        for offset, (path, when) in enumerate(zip(table.column("path").to_pylist(), scanned, strict=True)):
            if path not in newest or (when, part) >= newest[path][:2]:
                newest[path] = (when, part, self.rows + offset)
        self.rows += table.num_rows

    def paths(self) -> set[str]:
        """Every path the parts hold a row for: the earlier output's rows of these are replaced."""
        return set(self._newest)

    def keep(self, drop: set[str]) -> np.ndarray:
        """Per row added, in order: whether it is its path's newest, and its path not in `drop`."""
        keep = np.zeros(self.rows, dtype=bool)
        keep[[row for path, (_, _, row) in self._newest.items() if path not in drop]] = True
        return keep
