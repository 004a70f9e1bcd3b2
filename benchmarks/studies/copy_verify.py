"""Whether a candidate pair (a photo without GPS, and a located photo whose perceptual hash is near
it) is a copy and its original, by their pixels: the copy is laid over every box of the original
it could have been cut from (up to 12% off each dimension, from any side), both at 32 x 32 grey
levels, and the best normalised cross-correlation is the score. Against the photos a hash alone
takes for copies: other photos of the same landmark, drone photos of one field taken 12 s apart.

    pip install imagehash
    python -m benchmarks.studies.copy_verify [--originals 400] [--near 18]
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageFilter

from benchmarks.studies.copy_signals import copies, load, signals, study_photos, variants

SIDE = 32  # the grey levels compared
SOURCE_SIDE = 128  # the original's grey levels the boxes are cut from
SHARES = np.linspace(0.0, 0.12, 7)  # how much of a dimension a copy may have lost
ANCHORS = np.linspace(0.0, 1.0, 5)  # where the cut was: all from the left (0) ... all from the right (1)


def grey(image: Image.Image, side: int) -> np.ndarray:
    small = image.convert("L").resize((side, side), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def _standardised(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(len(values), -1) if values.ndim == 3 else values.reshape(1, -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-6)


def best_overlay(copy: Image.Image, original: Image.Image) -> float:
    """The best correlation of the copy with any box of the original it could have been cut from."""
    # Blurred to the compared cells' size, so that a sample stands for its cell as the copy's do.
    blurred = original.convert("L").resize((SOURCE_SIDE, SOURCE_SIDE), Image.Resampling.BOX)
    source = np.asarray(blurred.filter(ImageFilter.BoxBlur(SOURCE_SIDE / SIDE / 2)), dtype=np.float32)
    boxes = [(sx, ax, sy, ay) for sx in SHARES for ax in ANCHORS for sy in SHARES for ay in ANCHORS]
    b = np.array(boxes, dtype=np.float32)
    left, top = b[:, 0] * b[:, 1], b[:, 2] * b[:, 3]  # as shares of the original's width and height
    steps = (np.arange(SIDE, dtype=np.float32) + 0.5) / SIDE
    xs = ((left[:, None] + steps[None, :] * (1 - b[:, 0:1])) * SOURCE_SIDE).astype(np.int64)
    ys = ((top[:, None] + steps[None, :] * (1 - b[:, 2:3])) * SOURCE_SIDE).astype(np.int64)
    cut = source[ys[:, :, None], xs[:, None, :]]  # (boxes, SIDE, SIDE), nearest sampling
    scores = _standardised(cut) @ _standardised(grey(copy, SIDE))[0]
    return float(scores.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--near", type=int, default=18, help="phash 64 distance that makes a candidate")
    args, rng, paths = study_photos(parser)
    phash = signals()["phash 64"]
    originals = [load(path) for path in paths]
    indexed = np.array([[phash(v) for v in variants(image)] for image in originals], dtype=bool)
    groups = [p.parent for p in paths]
    true_scores: dict[str, list[float]] = {}
    false_scores: dict[str, list[float]] = {"same landmark or flight": [], "other photos": []}
    missed: dict[str, int] = {}
    for number, image in enumerate(originals):
        for kind, copy in copies(image, rng).items():
            bits = phash(copy)
            near = np.flatnonzero((indexed != bits).sum(axis=2).min(axis=1) <= args.near)
            missed[kind] = missed.get(kind, 0) + int(number not in near)
            for other in near.tolist():
                score = best_overlay(copy, originals[other])
                if other == number:
                    true_scores.setdefault(kind, []).append(score)
                else:
                    group = "same landmark or flight" if groups[other] == groups[number] else "other photos"
                    false_scores[group].append(score)
    print(f"{len(paths)} real photos; candidates: phash 64 within {args.near} of any indexed view\n")
    print("| pair | candidates | best overlay: min / 1st pct / median / max | missed by the hash |")
    print("| --- | --- | --- | --- |")
    for kind, scores in true_scores.items():
        s = np.array(scores)
        print(
            f"| copy ({kind}) and its original | {len(s)} | {s.min():.3f} / {np.percentile(s, 1):.3f} / "
            f"{np.median(s):.3f} / {s.max():.3f} | {missed[kind]} |"
        )
    for group, scores in false_scores.items():
        if scores:
            s = np.array(scores)
            print(
                f"| a copy and a different photo ({group}) | {len(s)} | {s.min():.3f} / "
                f"{np.percentile(s, 1):.3f} / {np.median(s):.3f} / {s.max():.3f} | |"
            )
        else:
            print(f"| a copy and a different photo ({group}) | 0 | | |")


if __name__ == "__main__":
    main()
