# ruff: noqa: E501 (the table printed, one row a line)
"""What the copy pass adds to a nightly commit, beside the location pass it runs before.

    python -m benchmarks.perf.copies_scale [--rows 1000000] [--new-share 0.01] [--gps-share 0.3]
                                           [--copies 100]

Makes an output of ROWS photos (`locate_scale`'s synthetic library, a share with GPS) whose every
row has picture hashes, of which the last NEW-SHARE arrived tonight. Among tonight's photos, COPIES
are real small JPEG copies of real small JPEG originals with GPS from earlier nights (written to a
temporary folder, so that the pixel check decodes real files); every other hash is random. Then
times `find_copies` (parsing the hashes, comparing tonight's photos, checking candidates' pixels)
and `locate` on the same rows, each with the resident memory it added, in a fresh process.
Random hashes are spread more evenly than real pictures' (skies, documents, bursts cluster), so
real libraries meet more candidates than this.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks.common import resident_mb, run_fresh
from benchmarks.perf.locate_scale import synthetic
from landmark_tag.locating.copies import VIEWS, picture_hashes
from landmark_tag.locating.fixes import LocateSettings
from landmark_tag.locating.locate import locate
from landmark_tag.pipeline.commit.copies import CopySearch, find_copies
from tests.helpers import shapes


class ResidentPeak:
    """The most resident memory a block of code added, sampled every 20 ms (the setup's own peak,
    which the process's high-water mark would report, is left out)."""

    def __enter__(self) -> ResidentPeak:
        self.before = self.peak = resident_mb()
        self.done = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, resident_mb())

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.sampler.join()
        self.added_mb = max(self.peak, resident_mb()) - self.before


def library(rows: int, new_share: float, gps_share: float, copies: int, folder: Path) -> tuple[pa.Table, int]:
    table = synthetic(rows, 200, gps_share)
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**63, size=(rows, VIEWS), dtype=np.uint64)
    hex_rows = [None] * rows
    paths = table.column("path").to_pylist()
    fresh_from = rows - int(rows * new_share)
    with_gps = np.flatnonzero(~np.isnan(table.column("gps_latitude").to_numpy(zero_copy_only=False)))
    without = np.flatnonzero(np.isnan(table.column("gps_latitude").to_numpy(zero_copy_only=False)))
    originals = with_gps[:copies]  # from earlier nights, unless every photo is new
    tonight = without[without >= fresh_from][:copies]
    for number, (original, copy) in enumerate(zip(originals, tonight, strict=True)):
        picture = shapes((800, 600), seed=number)
        paths[original] = str(folder / f"original-{number}.jpg")
        paths[copy] = str(folder / f"copy-{number}.jpg")
        picture.save(paths[original], quality=90)
        picture.resize((400, 300)).save(paths[copy], quality=70)
        hex_rows[original] = picture_hashes(picture)
        hex_rows[copy] = picture_hashes(picture.resize((400, 300)))
    for row in range(rows):
        if hex_rows[row] is None:
            hex_rows[row] = "".join(f"{int(v):016x}" for v in hashes[row])
    table = table.set_column(0, "path", pa.array(paths, pa.string()))
    table = table.append_column("picture_hashes", pa.array(hex_rows, pa.string()))
    table = table.append_column("copy_of", pa.nulls(rows, pa.string()))
    return table, fresh_from


def one_size(rows: int, new_share: float, gps_share: float, copies: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        table, fresh_from = library(rows, new_share, gps_share, copies, Path(folder))
        with ResidentPeak() as memory:
            started = time.perf_counter()
            found = find_copies(table, fresh_from, CopySearch())
            copy_seconds = time.perf_counter() - started
        copy_mb = memory.added_mb
        started = time.perf_counter()
        locate(table, LocateSettings(), copies=found.original)
        locate_seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "new": rows - fresh_from,
        "compared": found.compared,
        "checked": found.checked,
        "found": int((found.original >= 0).sum()),
        "copy_seconds": copy_seconds,
        "copy_mb": copy_mb,
        "locate_seconds": locate_seconds,
        "hashes_mb": table.column("picture_hashes").nbytes / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="1000000")
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--gps-share", type=float, default=0.3)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    options = (args.new_share, args.gps_share, args.copies)
    if args.one:
        print(json.dumps(one_size(args.one, *options)))
        return
    print(
        "| rows | new tonight | compared by hashes | candidate pairs decoded | copies found | copy pass s | its memory added MB | hashes column MB | location pass s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for rows in [int(r) for r in args.rows.split(",")]:
        flags = [
            "--new-share",
            str(args.new_share),
            "--gps-share",
            str(args.gps_share),
            "--copies",
            str(args.copies),
        ]
        r = run_fresh(["-m", "benchmarks.perf.copies_scale", "--one", str(rows)], *flags)
        print(
            f"| {rows:,} | {r['new']:,} | {r['compared']:,} | {r['checked']:,} | {r['found']:,} | "
            f"{r['copy_seconds']:.1f} | {r['copy_mb']:,.0f} | {r['hashes_mb']:,.0f} | {r['locate_seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
