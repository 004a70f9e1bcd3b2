"""What taking a photo's picture hashes (--copies, the default) costs when it is examined, side by
side with --no-copies, in one process, the two interleaved round by round.

    python -m benchmarks.perf.copies_cost [--photos 20] [--rounds 3]

Photos: camera-like 12 MP JPEGs (4000 x 3000, quality 92) with GPS, which without copies are never
decoded, and the same without GPS, which the model's decode reads anyway; web-sized ones (1280 x 960)
both ways. The examiner decodes for a 224 px model (EfficientNet-Lite0's preprocessing), as a scan
with a model does; without a model, photos without GPS are only decoded for their hashes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

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


if __name__ == "__main__":
    main()
