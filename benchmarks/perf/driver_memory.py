"""What the scan's driver holds in memory per photo, to size it for very large trees.

    python -m benchmarks.perf.driver_memory [--photos 1000000]

Builds, in this process, what a scan's planning holds for a tree of --photos photos, with paths
shaped like an upload bucket's (s3://uploads/photos/2026/11/29/<user>/<uuid>.jpg): the file list,
the map of done rows read from an earlier output that has every photo, the work plan, and, for the
Ray engine, the pickled shards it hands to Ray Data; then the merge's index of which part holds
each photo's newest row. It measures the process's resident memory
after each step. No photos are read and no model is loaded.
"""

from __future__ import annotations

import argparse
import pickle
import uuid

from benchmarks.common import resident_mb
from landmark_tag.files.discover import PhotoFile
from landmark_tag.pipeline.plan.incremental import DoneEntry, plan_work
from landmark_tag.pipeline.shards import DEFAULT_COMMIT_ROWS, cut_shards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1_000_000)
    args = parser.parse_args()
    count = args.photos
    steps = [("start", resident_mb())]
    photos = [
        PhotoFile(
            f"s3://uploads/photos/2026/11/{i % 30:02d}/user{i % 9973}/{uuid.UUID(int=i)}.jpg",
            3_500_000,
            1.8e9,
        )
        for i in range(count)
    ]
    steps.append(("file list", resident_mb()))
    done = {
        photo.path: DoneEntry(photo.size_bytes, int(photo.modified_at * 1e6) + 1, "tagged")
        for photo in photos
    }
    steps.append(("done rows of the earlier output", resident_mb()))
    plan = plan_work(photos, done)  # every photo changed: all of them to process
    steps.append(("work plan (all to process)", resident_mb()))
    shards = cut_shards(plan.to_process, DEFAULT_COMMIT_ROWS)
    items = [pickle.dumps(list(shard.photos)) for shard in shards]
    steps.append((f"shards and Ray shard items ({len(items):,} shards)", resident_mb()))
    # Held at the end, when the merge indexes the parts as merge_output does (by then the done rows
    # are freed; they are kept here, so the total is an upper bound).
    newest = {
        photo.path: (1_800_000_000_000_000 + i, i // DEFAULT_COMMIT_ROWS) for i, photo in enumerate(photos)
    }
    steps.append(("merge: newest row per path, over the parts", resident_mb()))
    print(f"{count:,} photos, {len(items):,} shards, {len(done) + len(newest):,} index entries")
    print("step | resident MB | added MB | added bytes per photo")
    print("--- | --- | --- | ---")
    for (name, mb), (_, before) in zip(steps[1:], steps[:-1], strict=True):
        print(f"{name} | {mb:,.0f} | {mb - before:,.0f} | {(mb - before) * 2**20 / count:,.0f}")
    print(f"total | {steps[-1][1]:,.0f} | {steps[-1][1] - steps[0][1]:,.0f} | "
          f"{(steps[-1][1] - steps[0][1]) * 2**20 / count:,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
