"""The journal of committed rows: part files in `<out>.parts/`, one per shard.

A scan commits its rows shard by shard (`--commit-every` photos each, 64 by default): each shard's
rows become one small Parquet part file, written whole or not at all and named after the run and
the shard, so a retried shard replaces its own part instead of adding rows. The output itself is
rewritten only at the end, by the merge (`commit.merge`), and then the parts are removed. So after
a crash:

- the previous output is intact (it is replaced only by a completed merge);
- the parts hold everything done before the crash, less at most the shards not yet committed (an
  interrupted or failing scan commits what it has before it stops; only `kill -9` or a power cut
  loses them);
- rerunning treats the parts like earlier output, so only the rest of the work is done.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from landmark_tag.errors import LandmarkTagError
from landmark_tag.files.results import ResultRow, rows_to_table, top_k_of
from landmark_tag.files.storage import (
    list_folder,
    publish,
    read_files,
    remove_file,
    remove_tree,
    staging_file,
)
from landmark_tag.pipeline.target import OutputTarget


class UnreadablePartError(LandmarkTagError):
    """A part file that is not a part (damaged, or put there by hand)."""


# Parts a merge fetches at once from a bucket (benchmarks/perf/part_reads.py).
PARTS_AHEAD = 16


class PartJournal:
    """The `<out>.parts/` folder of committed rows, local or in a bucket: one part per shard, so a
    scan of N photos leaves about N / --commit-every files (objects, in a bucket) until the merge."""

    def __init__(self, target: OutputTarget, k: int, run_id: str | None = None) -> None:
        self.target = target
        self.folder = target.parts_folder
        self.k = k
        self.storage_options = target.storage_options
        # Start time first, so part names sort oldest run first; the pid keeps runs apart. Ray's
        # model actors are handed the driver's, so that all of a run's parts carry one name.
        self.run_id = run_id or f"{time.time_ns():020d}-{os.getpid()}"

    def existing(self) -> list[str]:
        """Committed part files, oldest first (names sort by run start time, then shard)."""
        names = list_folder(self.folder, self.storage_options)
        return sorted(n for n in names if os.path.basename(n).startswith("part-") and n.endswith(".parquet"))

    def read_parts(self, parts: list[str], ahead: int = PARTS_AHEAD) -> Iterator[pa.Table]:
        """The rows of each part, in order; in a bucket, `ahead` parts are fetched at once (see
        `read_files`): a plan after a crash and a merge of a big scan read thousands of them."""
        contents = read_files(parts, self.storage_options, ahead)
        for part in parts:
            try:
                yield pq.read_table(pa.BufferReader(next(contents)))
            except (pa.ArrowException, OSError) as exc:
                raise UnreadablePartError(
                    f"cannot read the part file {part} ({exc}); remove it (its photos are scanned "
                    "again), or use --full to start over"
                ) from None

    def commit(self, rows: list[ResultRow], shard: int) -> str:
        """Write a shard's rows as its part file, atomically, and return the part's name. The name
        is the shard's: a shard done again (a Ray retry) replaces its part instead of adding one."""
        part = f"{self.folder}/part-{self.run_id}-shard-{shard:06d}.parquet"
        tmp = staging_file(part)  # a hidden name: existing() never lists a half-written part
        pq.write_table(rows_to_table(rows, self.k), tmp)
        publish(tmp, part, self.storage_options)
        return part

    def clear(self) -> None:
        remove_tree(self.folder, self.storage_options)

    def parts_of_this_k(self, discarded: list[str]) -> Iterator[tuple[str, pa.Table]]:
        """Each committed part with its rows, in order, read once; parts of an interrupted run with
        another --k, which could never be merged into this output, are removed instead and added to
        `discarded`."""
        parts = self.existing()
        for part, table in zip(parts, self.read_parts(parts), strict=True):
            if top_k_of(table.column_names) == self.k:
                yield part, table
            else:
                remove_file(part, self.storage_options)
                discarded.append(part)
