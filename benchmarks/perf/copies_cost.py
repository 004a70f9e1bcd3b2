"""What taking a photo's picture hashes (--copies, the default) costs when it is examined, side by
side with --no-copies, in one process, the two interleaved round by round.

    python -m benchmarks.perf.copies_cost [--photos 20] [--rounds 3] [--scan-photos 600]

Photos: camera-like 12 MP JPEGs (4000 x 3000, quality 92) with GPS, which without copies are never
decoded, and the same without GPS, which the model's decode reads anyway; web-sized ones (1280 x 960)
both ways. The examiner decodes for a 224 px model (EfficientNet-Lite0's preprocessing), as a scan
with a model does; without a model, photos without GPS are only decoded for their hashes.

Then whole scans (`landmark-tag scan --model`, EfficientNet-Lite0 with a random 50-class head and a
landmark score, `scan_throughput`'s) of web-sized photos (864 x 576), without GPS and with 30% GPS,
`--copies` and `--no-copies` interleaved, the median of --rounds: photos/s from the first batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import benchmark_checkpoints, make_set
from benchmarks.perf.scan_throughput import cli_scan
from landmark_tag.files.discover import PhotoFile
from landmark_tag.model.preprocessing import Preprocessing
from landmark_tag.pipeline.execute.decode import PhotoDecoder
from landmark_tag.pipeline.execute.examine import Examiner
from tests.helpers import capture_exif, gps_exif, shapes


def _photos(folder: Path, count: int, size: tuple[int, int], gps: bool) -> list[PhotoFile]:
    photos = []
    for number in range(count):
        path = folder / f"{size[0]}-{'gps' if gps else 'none'}-{number}.jpg"
        exif = capture_exif(gps_exif(50.85, 4.35) if gps else None, taken="2024:05:01 10:00:00")
        shapes(size, seed=number).save(path, quality=92, exif=exif.tobytes())
        photos.append(PhotoFile(str(path), path.stat().st_size, path.stat().st_mtime))
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scan-photos", type=int, default=600, help="photos per scanned set; 0: no scans")
    args = parser.parse_args()
    decoder = PhotoDecoder(Preprocessing(input_size=224, resize_size=256))
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        kinds: list[tuple[str, list[PhotoFile], bool]] = []  # (photos, them, with a model)
        for label, size in (("12 MP", (4000, 3000)), ("web", (1280, 960))):
            kinds.append((f"{label} with GPS", _photos(folder, args.photos, size, gps=True), True))
            without_gps = _photos(folder, args.photos, size, gps=False)
            kinds.append((f"{label} without GPS, with a model", without_gps, True))
            kinds.append((f"{label} without GPS, no model", without_gps, False))
        print("| photos | --no-copies ms/photo | --copies ms/photo | ratio |")
        print("| --- | --- | --- | --- |")
        for kind, photos, use_decoder in kinds:
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.rounds):
                for hashes in (False, True):
                    examiner = Examiner(decoder if use_decoder else None, hash_pictures=hashes)
                    started = time.perf_counter()
                    for photo in photos:
                        examiner(photo)
                    times[hashes].append((time.perf_counter() - started) / len(photos) * 1000)
            without, with_hashes = statistics.median(times[False]), statistics.median(times[True])
            print(f"| {kind} | {without:.1f} | {with_hashes:.1f} | {with_hashes / without:.2f} |")
        if args.scan_photos:
            whole_scans(folder, args.scan_photos, args.rounds)


def whole_scans(folder: Path, photos: int, rounds: int) -> None:
    checkpoint, _, _ = benchmark_checkpoints(folder, 5000)
    os.environ["LANDMARK_TAG_CACHE"] = str(folder / "cache")
    sets = {
        "web, no GPS": make_set(folder / "scan-web", photos, (864, 576)),
        "web, 30% with GPS": make_set(folder / "scan-web-gps", photos, (864, 576), gps_share=0.3),
    }
    cli_scan(folder / "scan-web", checkpoint, folder, [])  # builds the runtime's model, once
    print("\n| scan with a model | --no-copies photos/s | --copies photos/s | ratio |")
    print("| --- | --- | --- | --- |")
    for name, paths in sets.items():
        rates: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(rounds):
            for copies in (False, True):
                flag = "--copies" if copies else "--no-copies"
                rates[copies].append(cli_scan(paths[0].parent, checkpoint, folder, [flag])["photos_per_s"])
        without, with_copies = statistics.median(rates[False]), statistics.median(rates[True])
        print(f"| {name} | {without:.1f} | {with_copies:.1f} | {with_copies / without:.2f} |")


if __name__ == "__main__":
    main()
