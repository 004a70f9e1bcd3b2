"""Which signal tells a copy of a photo (resized, recompressed, re-encoded, lightly cropped, EXIF
stripped) from other photos: the generator of copies, and the distances of perceptual hashes
(imagehash) between a copy and its original, against those between different photos that look
alike (photos of the same landmark, drone photos of one field taken 12 s apart).

    pip install imagehash
    python -m benchmarks.studies.copy_signals [--originals 400] [--seed 0]

Real photos come from ../shared/data (never copied anywhere: copies are made in memory).
"""

from __future__ import annotations

import argparse
import io
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from landmark_tag.locating.copies import picture_views

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
WORKING_SIDE = 2400  # originals are worked on at most this size (the copies are smaller still)


def real_photos(limit: int, seed: int) -> list[Path]:
    photos = sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in SUFFIXES)
    random.Random(seed).shuffle(photos)
    return photos[:limit]


def load(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.draft("RGB", (WORKING_SIDE, WORKING_SIDE))
        image = ImageOps.exif_transpose(image).convert("RGB")
    image.thumbnail((WORKING_SIDE, WORKING_SIDE))
    return image


def _encode(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)  # no exif= given: the copy carries none
    buffer.seek(0)
    with Image.open(buffer) as copy:
        return copy.convert("RGB")


def _resized(image: Image.Image, side: int) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


def _cropped(image: Image.Image, share: float, rng: random.Random) -> Image.Image:
    """Up to `share` of the width and of the height cut away, split at random between the sides."""
    width, height = image.size
    cut_x, cut_y = round(width * share), round(height * share)
    left, top = rng.randint(0, cut_x), rng.randint(0, cut_y)
    return image.crop((left, top, width - (cut_x - left), height - (cut_y - top)))


def copies(image: Image.Image, rng: random.Random) -> dict[str, Image.Image]:
    """The copies a library holds of one photo: what messengers, web exports and albums make."""
    quality = lambda: rng.randint(60, 85)  # noqa: E731
    return {
        "2048 px, JPEG": _encode(_resized(image, 2048), "JPEG", quality=quality()),
        "1280 px, JPEG": _encode(_resized(image, 1280), "JPEG", quality=quality()),
        "800 px, JPEG": _encode(_resized(image, 800), "JPEG", quality=quality()),
        "1280 px, WebP": _encode(_resized(image, 1280), "WEBP", quality=quality()),
        "crop 5%, 1280 px": _encode(_resized(_cropped(image, 0.05, rng), 1280), "JPEG", quality=quality()),
        "crop 10%, 1280 px": _encode(_resized(_cropped(image, 0.10, rng), 1280), "JPEG", quality=quality()),
        "crop 10%, 800 px": _encode(_resized(_cropped(image, 0.10, rng), 800), "JPEG", quality=quality()),
    }


def signals() -> dict[str, Callable[[Image.Image], np.ndarray]]:
    import imagehash

    def bits(hash_function: Callable, **options) -> Callable[[Image.Image], np.ndarray]:
        return lambda image: hash_function(image, **options).hash.reshape(-1)

    return {
        "phash 64": bits(imagehash.phash),
        "phash 256": bits(imagehash.phash, hash_size=16),
        "dhash 64": bits(imagehash.dhash),
        "whash 64": bits(imagehash.whash),
    }


def variants(image: Image.Image) -> list[Image.Image]:
    """The original as a copy may show it (the scan's own views: whole, and with 5% and 10% cut
    away, centred and from each corner)."""
    return picture_views(image)


def study_photos(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, random.Random, list[Path]]:
    """The arguments, a seeded generator and the seeded sample of real photos of a copy study."""
    parser.add_argument("--originals", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"this study needs the real photos in {SHARED}")
    return args, random.Random(args.seed), real_photos(args.originals, args.seed)


def main() -> None:
    _, rng, paths = study_photos(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    hashers = signals()
    index: dict[str, list[np.ndarray]] = {name: [] for name in hashers}  # per original: (variants, bits)
    copy_bits: dict[tuple[str, str], list[np.ndarray]] = {}
    for path in paths:
        image = load(path)
        shown = variants(image)
        for name, hasher in hashers.items():
            index[name].append(np.array([hasher(v) for v in shown]))
        for kind, copy in copies(image, rng).items():
            for name, hasher in hashers.items():
                copy_bits.setdefault((name, kind), []).append(hasher(copy))
    kinds = list(copies(Image.new("RGB", (64, 64)), rng))
    groups = [p.parent for p in paths]  # a landmark's folder, a flight: photos that look alike
    same_group = np.array([[a == b for b in groups] for a in groups])
    np.fill_diagonal(same_group, False)
    print(f"{len(paths)} real photos from {SHARED}, {len(kinds)} copies each; each original indexed")
    print("whole and with 5% and 10% cut away (centred, and from each corner)\n")
    print("| signal | copy | distance to its original: median / 99th pct / max | its original nearest |")
    print("| --- | --- | --- | --- |")
    for name in hashers:
        indexed = np.array(index[name], dtype=bool)  # (originals, variants, bits)
        whole = indexed[:, 0, :]
        # Each original's whole view against every other original's variants: the nearest a
        # different photo comes to being taken for a copy of it.
        apart = (whole[:, None, None, :] != indexed[None, :, :, :]).sum(axis=3).min(axis=2)
        np.fill_diagonal(apart, 10**6)
        for kind in kinds:
            found = np.array(copy_bits[(name, kind)], dtype=bool)
            to_all = (found[:, None, None, :] != indexed[None, :, :, :]).sum(axis=3).min(axis=2)
            own = to_all[np.arange(len(found)), np.arange(len(found))]
            nearest = (to_all.argmin(axis=1) == np.arange(len(found))).mean()
            print(
                f"| {name} | {kind} | {np.median(own):.0f} / {np.percentile(own, 99):.0f} / {own.max()} | "
                f"{nearest:.1%} |"
            )
        alike, unlike = apart[same_group], apart[~same_group & (apart < 10**6)]
        closest = np.sort(alike)[:5].tolist()
        print(f"| {name} | same landmark or flight | smallest {closest} (of {len(alike):,}) | |")
        print(f"| {name} | other photos | smallest {np.sort(unlike)[:5].tolist()} (of {len(unlike):,}) | |")


if __name__ == "__main__":
    main()
