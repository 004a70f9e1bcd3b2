"""Tagging shards: examined photos' batches -> the model -> rows -> one part per shard.

Both engines end the execute step here: the local engine streams every shard of its work through
one `ShardTagger` (the model never waits at a shard's end), and each Ray actor tags the shards Ray
Data hands it, one at a time (`tag_shard`). Either way a shard's rows are committed as one part.
Sidecars are the commit's: they follow the published output (`commit.merge`).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from landmark_tag.files.results import ResultRow
from landmark_tag.files.throttling import throttled_answers
from landmark_tag.pipeline.execute.batch import PhotoBatch
from landmark_tag.pipeline.execute.examine import PhotoItem
from landmark_tag.pipeline.execute.predict import Predictor
from landmark_tag.pipeline.execute.rows import predicted_rows
from landmark_tag.pipeline.journal import PartJournal


@dataclass
class ShardResult:
    shard: int
    part: str  # the committed part file
    statuses: Counter[str]
    writing_seconds: float  # committing the part
    reads: Counter[str]  # photos and bytes read, located by their GPS or not (`bytes_read`)
    throttled: int  # the store's answers that asked to slow down, reading the photos and committing


def bytes_read(items: Iterable[PhotoItem]) -> Counter[str]:
    """How much of the photos' files was read: photos and bytes, of those located by their own GPS
    (their head, unless decoded) and of the others (read whole to be decoded)."""
    reads: Counter[str] = Counter()
    for item in items:
        kind = "located" if item.gps is not None else "other"
        reads[f"{kind}_photos"] += 1
        reads[f"{kind}_bytes"] += item.bytes_read
    return reads


class ShardTagger:
    """Rows for each shard's photos, by `predictor` (None: no landmark model), committed to `journal`."""

    def __init__(self, predictor: Predictor | None, journal: PartJournal) -> None:
        self.predictor = predictor
        self.journal = journal
        self.model_name = predictor.loaded.name if predictor is not None else ""

    def tag_shards(
        self,
        batches: Iterable[PhotoBatch],
        on_commit: Callable[[ShardResult], None],
        on_rows: Callable[[int], None] | None = None,
    ) -> None:
        """Tag `batches` (in order; a batch never spans two shards) and commit each shard once its
        last batch has its rows. When the batches stop early (an error, Ctrl-C), the rows already
        made are committed before the exception goes on."""
        held: list[ResultRow] = []
        reads: Counter[str] = Counter()  # what reading the held rows' photos took (not the pixels)
        throttled = shard = 0
        try:
            for batch, rows in predicted_rows(batches, self.predictor, self.model_name):
                if held and batch.shard != shard:
                    on_commit(self.commit(shard, held, reads, throttled))
                    held, reads, throttled = [], Counter(), 0
                shard = batch.shard
                held.extend(rows)
                reads.update(bytes_read(batch.items))
                throttled += sum(item.throttled for item in batch.items)
                if on_rows is not None:
                    on_rows(len(rows))
        except BaseException:
            if held:
                with contextlib.suppress(Exception):  # the first problem is the one to report
                    on_commit(self.commit(shard, held, reads, throttled))
            raise
        if held:
            on_commit(self.commit(shard, held, reads, throttled))

    def tag_shard(self, batches: Iterable[PhotoBatch]) -> ShardResult:
        """Tag one shard's batches and commit them as its part."""
        results: list[ShardResult] = []
        self.tag_shards(batches, results.append)
        (result,) = results
        return result

    def commit(
        self, shard: int, rows: list[ResultRow], reads: Counter[str] | None = None, throttled: int = 0
    ) -> ShardResult:
        """Commit the rows as the shard's part (`reads`, `throttled`: what reading its photos took)."""
        started, before = time.monotonic(), throttled_answers()
        part = self.journal.commit(rows, shard)  # once committed, a crash cannot lose these rows
        throttled += throttled_answers() - before
        statuses = Counter(row.status.value for row in rows)
        return ShardResult(shard, part, statuses, time.monotonic() - started, reads or Counter(), throttled)
