"""The shard: the unit of work and of commit, on both engines.

The plan cuts the photos to process into shards of `--commit-every` photos, in order. An engine
tags each shard and commits its rows as one part file named after it (`commit.journal`), so a
shard done again, after a Ray retry, replaces its part instead of adding rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from landmark_tag.files.discover import PhotoFile

# Photos per shard (--commit-every): a crash redoes at most one shard per model actor, and a scan
# of N photos leaves about N / 64 part files until the merge.
DEFAULT_COMMIT_ROWS = 64


@dataclass(frozen=True)
class Shard:
    index: int  # unique within a run: names the shard's part file
    photos: tuple[PhotoFile, ...]


def cut_shards(photos: Sequence[PhotoFile], size: int, first_index: int = 0) -> list[Shard]:
    """`photos` in order, cut into shards of at most `size`, numbered from `first_index`."""
    return [
        Shard(first_index + number, tuple(photos[start : start + size]))
        for number, start in enumerate(range(0, len(photos), size))
    ]
