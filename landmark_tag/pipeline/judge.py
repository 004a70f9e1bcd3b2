"""Judging: a photo's status follows from stored numbers and the thresholds, never from the model
(the rule is `model.decisions.decide`). Only `tagged` rows get a location.

Because the output keeps `probability_1` and `landmark_score`, rows written by a run of the same
model can be judged again with other thresholds (`rejudge_table`) without running the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.results import Status
from landmark_tag.model.decisions import decide
from landmark_tag.model.gazetteer import Place

JUDGED = (Status.TAGGED.value, Status.UNCERTAIN.value, Status.NO_LANDMARK.value)


@dataclass(frozen=True)
class Judge:
    """The thresholds of one model, and where its landmarks are (by display name)."""

    model: str  # the `model` column value of rows this judge may re-judge
    min_confidence: float = 0.0
    min_landmark_score: float | None = None  # None: the model has no landmark score
    places: dict[str, Place] = field(default_factory=dict)  # display name -> place

    def status(self, top1_probability: float, landmark_score: float | None) -> Status:
        return decide(top1_probability, landmark_score, self.min_confidence, self.min_landmark_score)

    def _statuses(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(new status per row, whether the row is this model's and judged at all), by `status`."""
        statuses = np.asarray(table.column("status").to_pylist(), dtype=object)
        models = np.asarray(table.column("model").to_pylist(), dtype=object)
        mine = np.isin(statuses, JUDGED) & (models == self.model)
        probability = table.column("probability_1").to_numpy(zero_copy_only=False).astype(float)
        score = (
            table.column("landmark_score").to_numpy(zero_copy_only=False).astype(float)
            if "landmark_score" in table.column_names
            else np.full(len(table), np.nan)
        )
        new = statuses.copy()
        for row in np.flatnonzero(mine):  # a missing score (NaN) is judged as no score
            landmark_score = None if np.isnan(score[row]) else float(score[row])
            new[row] = self.status(float(np.nan_to_num(probability[row])), landmark_score).value
        return new, mine

    def count_changes(self, table: pa.Table) -> int:
        """How many rows `rejudge_table` would give another status."""
        return self.rejudge_table(table, count_only=True)[1]

    def rejudge_table(self, table: pa.Table, count_only: bool = False) -> tuple[pa.Table, int]:
        """(`table` (in the output schema) with this model's rows judged at these thresholds and their
        estimated location set for `tagged` rows and cleared for the others, how many rows changed
        status). With `count_only`, or when no status changes, `table` comes back as it was."""
        statuses, mine = self._statuses(table)
        changed = int((statuses != np.asarray(table.column("status").to_pylist(), dtype=object)).sum())
        if count_only or not changed:
            return table, changed
        tagged = statuses == Status.TAGGED.value
        landmarks = table.column("landmark_1").to_pylist()
        places = [self.places.get(name) if name is not None else None for name in landmarks]
        columns = {
            "status": pa.array(statuses.tolist(), pa.string()),
            "estimated_latitude": [p.latitude if p else None for p in places],
            "estimated_longitude": [p.longitude if p else None for p in places],
            "estimated_country": [p.country if p else None for p in places],
        }
        for name in ("estimated_latitude", "estimated_longitude", "estimated_country"):
            new = pa.array(columns[name], table.schema.field(name).type)
            cleared = pc.if_else(pa.array(tagged), new, pa.nulls(len(table), new.type))
            columns[name] = pc.if_else(pa.array(mine), cleared, table.column(name))
        for name, values in columns.items():
            table = table.set_column(table.schema.get_field_index(name), name, values)
        return table, changed
