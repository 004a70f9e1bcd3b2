# ruff: noqa: E501 (the tables printed, one row a line)
"""How well a scan locates copies, end to end: a library is made of real photos given GPS (the
originals; each its own place), the copies a library collects of them (2048, 1280 and 800 px JPEG at
quality 60-85, 1280 px WebP, 5% and 10% crops; EXIF stripped; `benchmarks.studies.copy_signals`),
and the photos a copy must never be taken for: other photos of the same landmarks, ants and bees,
and the other frames of a drone flight taken 12 s apart, all without GPS or time. Then
`landmark-tag scan --no-landmarks` runs over it, and each copy's location is checked against its
original's.

    python -m benchmarks.studies.copy_quality [--originals 300] [--seed 0] [--thumbnails]

Originals are split by number: the even ones are where the threshold was fitted (the best score a
photo that is not a copy reached, `--fit` prints it from this library's candidate pairs), the odd
ones are held out. Real photos come from ../shared/data and are written only into a temporary folder.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmarks.studies.copy_signals import SHARED, SUFFIXES, copies, load
from landmark_tag.files.images import load_rgb
from landmark_tag.files.results import read_results
from landmark_tag.locating.copies import (
    CANDIDATES_PER_COPY,
    HASHED_SIDE,
    SOURCE_SIDE,
    copy_grey,
    mean_view_bits,
    near_pairs,
    original_grey,
    overlay_score,
    parse_hashes,
    picture_hashes,
)
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import capture_exif, exif_with_thumbnail, gps_exif

FLIGHT = "dji-p3-mapping-flight"
SKIES = 60


def _library(root: Path, originals: int, seed: int, thumbnails: bool = False) -> dict[str, tuple[str, int]]:
    """Write the library; return each file's (kind, original's number) by name (-1: no original).
    With `thumbnails`, each original carries an EXIF thumbnail as cameras store one (160 px on its
    longer side, JPEG quality 75), which the scan then hashes it from."""
    rng = random.Random(seed)
    photos = _distinct(sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in SUFFIXES))
    flight = [p for p in photos if FLIGHT in str(p)]
    others = [p for p in photos if FLIGHT not in str(p)]
    rng.shuffle(others)
    # Every other frame of the flight is an original: the frames between are the same field 12 s
    # later. The rest of the originals are drawn from the other photos, the remaining ones are look-alikes.
    chosen = flight[::2] + others[: max(0, originals - len(flight[::2]))]
    alike = flight[1::2] + others[max(0, originals - len(flight[::2])) :]
    truth: dict[str, tuple[str, int]] = {}
    for number, path in enumerate(chosen):
        image = load(path)
        lat, lon = -60 + 0.3 * number, -170 + 0.7 * number  # every original its own place
        exif = capture_exif(
            gps_exif(lat, lon),
            taken=f"2024:05:01 {number // 3600 % 24:02d}:{number // 60 % 60:02d}:{number % 60:02d}",
        )
        name = f"original-{number:04d}.jpg"
        small = image.copy()
        small.thumbnail((160, 160))
        image.save(
            root / name, quality=92, exif=exif_with_thumbnail(exif, small) if thumbnails else exif.tobytes()
        )
        truth[name] = ("original", number)
        for kind, copy in copies(image, rng).items():
            name = f"c{rng.getrandbits(40):010x}.{'webp' if 'WebP' in kind else 'jpg'}"
            copy.save(root / name, quality=80)
            truth[name] = (kind, number)
    # Smooth pictures correlate as well as copies do: the skies (the top fifth) of 2 x SKIES other
    # photos, the first half given GPS as originals, the second half to be told from them.
    landmarks = [p for p in alike if FLIGHT not in str(p)]
    skies, alike = landmarks[: 2 * SKIES], [p for p in alike if p not in landmarks[: 2 * SKIES]]
    for index, path in enumerate(skies):
        image = load(path)
        sky = image.crop((0, 0, image.width, image.height // 5))
        if index < SKIES:
            number = len(chosen) + index
            name = f"original-{number:04d}.jpg"
            sky.save(
                root / name,
                quality=92,
                exif=capture_exif(gps_exif(60 - 0.3 * index, 170 - 0.7 * index)).tobytes(),
            )
            truth[name] = ("original", number)
        else:
            name = f"other-{rng.getrandbits(40):010x}.jpg"
            sky.save(root / name, quality=90)
            truth[name] = ("the sky of another photo", -1)
    for path in alike:
        group = "flight frame 12 s from an original" if FLIGHT in str(path) else "look-alike"
        name = f"other-{rng.getrandbits(40):010x}.jpg"
        load(path).save(root / name, quality=90)
        truth[name] = (group, -1)
    return truth


SAME_PICTURE_BITS = 4  # what resizing and recompressing moved a whole picture's hash by, at most


def _distinct(photos: list[Path]) -> list[Path]:
    """The photos less those that are another's picture again: the data sets hold a few twice (the
    same photo in two landmarks' folders, or recoloured), which are copies of each other, not
    look-alikes. A whole hash within SAME_PICTURE_BITS of an earlier photo's drops the later."""
    kept: list[Path] = []
    wholes: list[int] = []
    for path in photos:
        hashes = picture_hashes(load_rgb(path, HASHED_SIDE))
        if hashes is None:  # a plain picture: nothing to compare, kept (it is no one's copy)
            kept.append(path)
            continue
        whole = int(hashes[:16], 16)
        if all((whole ^ other).bit_count() > SAME_PICTURE_BITS for other in wholes):
            kept.append(path)
            wholes.append(whole)
    print(f"{len(photos) - len(kept)} of {len(photos)} real photos left out: the same picture as another")
    return kept


def _fit(output: Path, truth: dict[str, tuple[str, int]]) -> None:
    """Every candidate pair's overlay score, from the output's hashes: the threshold just above the
    best a non-copy reached on the even-numbered originals, and what it gives on the odd ones."""
    rows = read_results(output)
    hashes, hashed = parse_hashes(pq.read_table(output, columns=["picture_hashes"]).column(0))
    names = [Path(p).name for p in rows["path"]]
    original_rows = np.flatnonzero(rows["gps_latitude"].notna().to_numpy() & hashed)
    copy_rows = np.flatnonzero(rows["gps_latitude"].isna().to_numpy() & hashed)
    scores: list[tuple[int, bool, float]] = []  # (original's number, a true pair, score)
    at_all, near_all, bits_all = near_pairs(hashes[copy_rows, 0], hashes[original_rows])
    # The second bound on the hashes: every view of the copy near one of the original's.
    true_pair = np.array(
        [
            truth[names[c]][1] == truth[names[o]][1]
            for c, o in zip(copy_rows[at_all], original_rows[near_all], strict=True)
        ]
    )
    mean_bits = mean_view_bits(hashes[copy_rows[at_all]], hashes[original_rows[near_all]])
    rng = np.random.default_rng(0)
    unrelated = mean_view_bits(hashes[rng.choice(copy_rows, 5000)], hashes[rng.choice(original_rows, 5000)])
    for label, values in (
        ("copies and their originals", mean_bits[true_pair]),
        ("other candidate pairs", mean_bits[~true_pair]),
        ("random pairs", unrelated),
    ):
        low, first, median, high = np.percentile(values, [0, 1, 50, 100]) if len(values) else [np.nan] * 4
        print(
            f"mean bits from each copy view to the original's nearest, {label} ({len(values)}): min {low:.1f}, 1st pct {first:.1f}, median {median:.1f}, 99th pct {np.percentile(values, 99) if len(values) else np.nan:.1f}, max {high:.1f}"
        )
    for at in np.unique(at_all):
        near, bits = near_all[at_all == at], bits_all[at_all == at]
        copy_path = rows["path"].iloc[copy_rows[at]]
        copy = copy_grey(load_rgb(copy_path, SOURCE_SIDE))
        for original_row in original_rows[near[np.argsort(bits, kind="stable")][:CANDIDATES_PER_COPY]]:
            number = truth[names[original_row]][1]
            original = original_grey(load_rgb(rows["path"].iloc[original_row], SOURCE_SIDE))
            scores.append((number, truth[names[copy_rows[at]]][1] == number, overlay_score(copy, original)))
    false_even = [s for n, true, s in scores if not true and n % 2 == 0]
    fitted = max(false_even, default=0.0) + 0.01
    held = [(true, s) for n, true, s in scores if n % 2 == 1]
    print(
        f"\nthreshold fitted on the even originals' candidates: {fitted:.3f} (best non-copy {fitted - 0.01:.3f}); "
        f"odd originals at it: {sum(t and s >= fitted for t, s in held)} true pairs found, "
        f"{sum((not t) and s >= fitted for t, s in held)} wrong"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", action="store_true", help="also fit the threshold on this library")
    parser.add_argument("--thumbnails", action="store_true", help="originals carry EXIF thumbnails")
    parser.add_argument(
        "--keep", type=Path, help="make the library and its output in this folder, and keep them"
    )
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"this benchmark needs the real photos in {SHARED}")
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        root = Path(folder) / "library"
        root.mkdir(parents=True)
        truth = _library(root, args.originals, args.seed, args.thumbnails)
        started = time.monotonic()
        summary = scan(ScanConfig([str(root)], str(Path(folder) / "tags.parquet"), landmarks=False))
        seconds = time.monotonic() - started
        rows = read_results(Path(folder) / "tags.parquet")
        if args.fit:
            _fit(Path(folder) / "tags.parquet", truth)
    where = {
        truth[Path(p).name][1]: (lat, lon)
        for p, lat, lon in zip(rows["path"], rows["gps_latitude"], rows["gps_longitude"], strict=True)
        if truth[Path(p).name][0] == "original"
    }
    tally: Counter[tuple[str, str, str]] = Counter()
    for path, source, lat, lon in zip(
        rows["path"],
        rows["location_source"],
        rows["location_latitude"],
        rows["location_longitude"],
        strict=True,
    ):
        kind, number = truth[Path(path).name]
        if kind == "original":
            continue
        half = "fitted" if number >= 0 and number % 2 == 0 else "held out" if number >= 0 else "-"
        if source != "copy":
            verdict = "none"
        elif number >= 0 and np.allclose((lat, lon), where[number]):
            verdict = "right"
        else:
            verdict = "wrong"
        tally[(kind, half, verdict)] += 1
    print(
        f"{len(truth)} photos, {sum(k == 'original' for k, _ in truth.values())} originals with GPS; scan {seconds:.0f} s "
        f"({len(truth) / seconds:.1f} photos/s, no landmark model); candidate pairs compared by pixels: {summary.copies_checked}\n"
    )
    print("| photos | originals | located from the right original | none | from a wrong original |")
    print("| --- | --- | --- | --- | --- |")
    kinds = sorted({k for k, _, _ in tally}, key=lambda k: (k.startswith(("look", "flight", "the sky")), k))
    for kind in kinds:
        for half in ("fitted", "held out", "-"):
            right, none, wrong = (tally[(kind, half, v)] for v in ("right", "none", "wrong"))
            total = right + none + wrong
            if total:
                share = f"{right} ({right / total:.1%})" if half != "-" else ""
                print(f"| {kind} | {half} | {share} | {none} | {wrong} ({wrong / total:.1%}) |")


if __name__ == "__main__":
    main()
