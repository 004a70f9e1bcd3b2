"""Rows carried over from earlier runs, judged again: the current model's rows get the status its
thresholds give now, so new thresholds apply to the whole output without running the model."""

from __future__ import annotations

import pyarrow as pa

from landmark_tag.files.results import conform, result_schema
from landmark_tag.pipeline.judge import Judge
from landmark_tag.pipeline.target import OutputTarget


def count_rejudged(previous: OutputTarget, judge: Judge | None) -> int:
    """How many rows of an existing output `judge` would give another status (another threshold
    than the run that wrote them); reads only the columns that judging needs. None (no landmark
    model): none."""
    if judge is None:
        return 0
    columns = set(previous.columns())
    wanted: list[str] = [c for c in ("status", "model", "probability_1", "landmark_score") if c in columns]
    changes = 0
    for batch in previous.batches(columns=wanted):
        changes += judge.count_changes(pa.Table.from_batches([batch]))
    return changes


class Rejudge:
    """Each table in the output schema of top-`k` (older outputs lack newer columns), judged again
    by `judge` when there is one; `changed` counts the rows whose status changed."""

    def __init__(self, k: int, judge: Judge | None) -> None:
        self.schema, self.judge, self.changed = result_schema(k), judge, 0
        self.k = k

    def __call__(self, table: pa.Table) -> pa.Table:
        table = conform(table, self.k)
        if self.judge is not None:
            table, changed = self.judge.rejudge_table(table)
            self.changed += changed
        return table.cast(self.schema)
