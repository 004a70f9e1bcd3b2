# ruff: noqa: E501 (the tables printed, one row a line)
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

SIDES = (32, 64)  # the grey levels compared, side by side
SOURCE_SCALE = 4  # the original's grey levels the boxes are cut from: this many times finer
MARGIN = 0.01  # a threshold fitted on half the photos sits this far above their best non-copy
SHARES = np.linspace(0.0, 0.12, 7)  # how much of a dimension a copy may have lost
ANCHORS = np.linspace(0.0, 1.0, 5)  # where the cut was: all from the left (0) ... all from the right (1)


def grey(image: Image.Image, side: int) -> np.ndarray:
    small = image.convert("L").resize((side, side), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def _standardised(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(len(values), -1) if values.ndim == 3 else values.reshape(1, -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-6)


def best_overlay(copy: Image.Image, original: Image.Image, side: int) -> float:
    """The best correlation of the copy with any box of the original it could have been cut from,
    both at `side` x `side` grey levels."""
    # Blurred to the compared cells' size, so that a sample stands for its cell as the copy's do.
    source_side = side * SOURCE_SCALE
    blurred = original.convert("L").resize((source_side, source_side), Image.Resampling.BOX)
    source = np.asarray(blurred.filter(ImageFilter.BoxBlur(SOURCE_SCALE / 2)), dtype=np.float32)
    boxes = [(sx, ax, sy, ay) for sx in SHARES for ax in ANCHORS for sy in SHARES for ay in ANCHORS]
    b = np.array(boxes, dtype=np.float32)
    left, top = b[:, 0] * b[:, 1], b[:, 2] * b[:, 3]  # as shares of the original's width and height
    steps = (np.arange(side, dtype=np.float32) + 0.5) / side
    xs = ((left[:, None] + steps[None, :] * (1 - b[:, 0:1])) * source_side).astype(np.int64)
    ys = ((top[:, None] + steps[None, :] * (1 - b[:, 2:3])) * source_side).astype(np.int64)
    cut = source[ys[:, :, None], xs[:, None, :]]  # (boxes, side, side), nearest sampling
    scores = _standardised(cut) @ _standardised(grey(copy, side))[0]
    return float(scores.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--near", type=int, default=18, help="phash 64 distance that makes a candidate")
    args, rng, paths = study_photos(parser)
    phash = signals()["phash 64"]
    originals = [load(path) for path in paths]
    indexed = np.array([[phash(v) for v in variants(image)] for image in originals], dtype=bool)
    groups = [p.parent for p in paths]
    # (original's number, kind or the other photo's group, score per side) of every candidate pair
    true_pairs: list[tuple[int, str, list[float]]] = []
    false_pairs: list[tuple[int, str, list[float]]] = []
    missed: dict[str, int] = {}
    for number, image in enumerate(originals):
        for kind, copy in copies(image, rng).items():
            bits = phash(copy)
            near = np.flatnonzero((indexed != bits).sum(axis=2).min(axis=1) <= args.near)
            missed[kind] = missed.get(kind, 0) + int(number not in near)
            for other in near.tolist():
                scores = [best_overlay(copy, originals[other], side) for side in SIDES]
                if other == number:
                    true_pairs.append((number, kind, scores))
                else:
                    group = "same landmark or flight" if groups[other] == groups[number] else "other photos"
                    false_pairs.append((number, group, scores))
    print(f"{len(paths)} real photos; candidates: phash 64 within {args.near} of any indexed view\n")
    print(
        "| pair | candidates | "
        + " | ".join(f"best overlay at {s}x{s}: min / 1st pct / median / max" for s in SIDES)
        + " | missed by the hash |"
    )
    print("| --- | --- | " + " | ".join("---" for _ in SIDES) + " | --- |")
    labels = [
        (f"copy ({kind}) and its original", [p for p in true_pairs if p[1] == kind], missed[kind])
        for kind in missed
    ]
    labels += [
        (f"a copy and a different photo ({g})", [p for p in false_pairs if p[1] == g], "")
        for g in ("same landmark or flight", "other photos")
    ]
    for label, pairs, lost in labels:
        cells = []
        for column in range(len(SIDES)):
            s = np.array([p[2][column] for p in pairs]) if pairs else np.zeros(0)
            cells.append(
                f"{s.min():.3f} / {np.percentile(s, 1):.3f} / {np.median(s):.3f} / {s.max():.3f}"
                if len(s)
                else ""
            )
        print(f"| {label} | {len(pairs)} | " + " | ".join(cells) + f" | {lost} |")
    # A threshold fitted on the even-numbered originals (just above their best non-copy), judged on
    # the odd-numbered ones.
    print(
        "\n| compared at | threshold (fitted on half) | copies found (other half) | of which 10% crops | wrong originals (other half) |"
    )
    print("| --- | --- | --- | --- | --- |")
    copies_made = len(paths) * len(missed)
    for column, side in enumerate(SIDES):
        fitted = max(p[2][column] for p in false_pairs if p[0] % 2 == 0) + MARGIN
        held_true = [p for p in true_pairs if p[0] % 2 == 1]
        found = sum(p[2][column] >= fitted for p in held_true)
        crops = [p for p in held_true if p[1].startswith("crop 10%")]
        crops_found = sum(p[2][column] >= fitted for p in crops)
        wrong = sum(p[2][column] >= fitted for p in false_pairs if p[0] % 2 == 1)
        made = copies_made // 2
        print(
            f"| {side}x{side} | {fitted:.3f} | {found} of {made} ({found / made:.1%}) | {crops_found} of {len(crops)} | {wrong} |"
        )


if __name__ == "__main__":
    main()
