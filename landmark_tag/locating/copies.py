"""Copies: a photo without GPS whose picture is a copy of a located photo (resized, recompressed,
re-encoded, cut by up to 10%, its EXIF stripped) takes that photo's location. Two signals, chosen by
measuring (docs/quality.md, "Copies"):

- **Picture hashes**, taken when a photo is examined and stored in the output: the 64-bit
  perceptual hash (imagehash's pHash) of the whole picture and of ten views with 5% and 10% of each
  side cut away (centred, and from each corner). A copy's whole hash lies within a few bits of its
  original's nearest view, even when cut; a different photo rarely does. That finds candidates,
  comparing only the night's new photos with the rest (`near_pairs`).
- **The pixels**, for the few candidates: the copy laid over every box of the original it could
  have been cut from, both at 32 x 32 grey levels; the best normalised cross-correlation
  (`overlay_score`) must clear a threshold no other photo of the same place or flight reached.
"""

from __future__ import annotations

from collections.abc import Iterator

import imagehash
import numpy as np
import pyarrow as pa
from PIL import Image, ImageFilter

VIEWS = 11  # hashes per photo: the whole picture, then 5% and 10% cut away five ways each
_ANCHORS = ((0.5, 0.5), (0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0))
HASHED_SIDE = 256  # views are cut from the picture at about this size (pHash looks at 32 x 32)
# Candidates: a copy's whole hash this near one of a photo's views. Copies measured: resized and
# recompressed within 4 bits, cut by 10% within 14 (99% within 12); other photos as near as 10. Every
# candidate costs decoding two photos at commit, so the bound is where a copy is still likely found.
CANDIDATE_BITS = 12
CANDIDATES_PER_COPY = 4  # the nearest this many are compared by their pixels
# Pixels: both at 32 x 32 grey levels, the original's boxes cut from 4x finer ones; a copy may have
# lost up to 12% of each dimension, from either side. The threshold is 0.01 above the best that a
# different photo (the same landmark, the next frame of a flight) reached against half of 500 real
# originals (benchmarks/copies_quality.py --fit; 0.923 in the first study); at it the other half's
# copies were found 99% of the time, with no wrong original. A plain picture (one colour) scores 0.
OVERLAY_SIDE = 32
SOURCE_SIDE = OVERLAY_SIDE * 4
MIN_OVERLAY = 0.93
_SHARES = np.linspace(0.0, 0.12, 7)
_CUT_AT = np.linspace(0.0, 1.0, 5)  # where the cut was: all from the left or top (0) ... the other side


def picture_hashes(image: Image.Image) -> str:
    """The VIEWS perceptual hashes of an upright picture, as 16 hex digits each, the whole first."""
    grey = image.convert("L")
    grey.thumbnail((HASHED_SIDE, HASHED_SIDE), Image.Resampling.BOX)
    width, height = grey.size
    views = [grey]
    for share in (0.05, 0.10):
        cut_x, cut_y = width * share, height * share
        for ax, ay in _ANCHORS:
            left, top = round(cut_x * ax), round(cut_y * ay)
            box = (left, top, left + round(width - cut_x), top + round(height - cut_y))
            views.append(grey.crop(box))
    return "".join(str(imagehash.phash(view)) for view in views)


def parse_hashes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(rows x VIEWS uint64 hashes, which rows have them) from the output's `picture_hashes`."""
    values = column.to_pylist()
    has = np.array([isinstance(v, str) and len(v) == 16 * VIEWS for v in values], dtype=bool)
    text = "".join(v for v, ok in zip(values, has, strict=True) if ok)
    raw = np.frombuffer(bytes.fromhex(text), dtype=">u8").astype(np.uint64)
    hashes = np.zeros((len(values), VIEWS), dtype=np.uint64)
    hashes[has] = raw.reshape(-1, VIEWS)
    return hashes, has


def near_pairs(
    copies: np.ndarray, originals: np.ndarray, max_bits: int = CANDIDATE_BITS
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each copy's whole hash (`copies`, n), the originals (rows of `originals`, m x VIEWS)
    with a view within `max_bits` of it: (copy's position, originals' positions, bits apart). Every
    copy is compared with every original, the views laid out so that each comparison is one XOR and
    one bit count; at a million originals a copy takes about 18 ms (docs/benchmarks.md)."""
    views = np.ascontiguousarray(originals.T)  # VIEWS x m
    xored = np.empty_like(views)
    bits = np.empty(views.shape, dtype=np.uint8)
    for position, whole in enumerate(copies):
        np.bitwise_xor(views, whole, out=xored)
        np.bitwise_count(xored, out=bits)
        apart = bits.min(axis=0)
        near = np.flatnonzero(apart <= max_bits)
        if len(near):
            yield position, near, apart[near]


def copy_grey(image: Image.Image) -> np.ndarray:
    """A copy as `overlay_score` compares it: its upright picture at 32 x 32 grey levels."""
    small = image.convert("L").resize((OVERLAY_SIDE, OVERLAY_SIDE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def original_grey(image: Image.Image) -> np.ndarray:
    """An original as `overlay_score` cuts boxes from it: 4x finer grey levels, blurred to the
    compared cells' size so that a sample stands for its cell as the copy's do."""
    small = image.convert("L").resize((SOURCE_SIDE, SOURCE_SIDE), Image.Resampling.BOX)
    return np.asarray(small.filter(ImageFilter.BoxBlur(SOURCE_SIDE / OVERLAY_SIDE / 2)), dtype=np.float32)


def _standardised(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(len(values), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-6)


def _box_samples() -> tuple[np.ndarray, np.ndarray]:
    """Where each compared cell of each box falls in the original's grey levels (rows, columns)."""
    share_x, at_x, share_y, at_y = (g.reshape(-1) for g in np.meshgrid(_SHARES, _CUT_AT, _SHARES, _CUT_AT))
    steps = (np.arange(OVERLAY_SIDE) + 0.5) / OVERLAY_SIDE
    xs = (share_x * at_x)[:, None] + steps[None, :] * (1 - share_x)[:, None]
    ys = (share_y * at_y)[:, None] + steps[None, :] * (1 - share_y)[:, None]
    return (ys * SOURCE_SIDE).astype(np.int64), (xs * SOURCE_SIDE).astype(np.int64)


_BOX_ROWS, _BOX_COLUMNS = _box_samples()


def overlay_score(copy: np.ndarray, original: np.ndarray) -> float:
    """The best correlation of a copy (`copy_grey`) with any box of an original (`original_grey`)
    it could have been cut from: 1 for the same pixels, near 0 for unrelated pictures."""
    cut = original[_BOX_ROWS[:, :, None], _BOX_COLUMNS[:, None, :]]  # boxes x 32 x 32
    return float((_standardised(cut) @ _standardised(copy[None])[0]).max())
