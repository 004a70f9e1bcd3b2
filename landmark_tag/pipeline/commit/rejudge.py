"""Rows carried over from earlier runs, judged again: the current model's rows get the status its
thresholds give now, so new thresholds apply to the whole output without running the model."""

from __future__ import annotations

import pyarrow as pa

from landmark_tag.files.results import conform, result_schema
from landmark_tag.pipeline.judge import Judge

# What judging a stored row reads (`Judge.count_changes`): the status, the model that made it, its
# top-1 probability and its landmark score.
JUDGING_COLUMNS = ("status", "model", "probability_1", "landmark_score")


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
