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

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import scipy.fftpack
from PIL import Image, ImageFilter
from scipy.ndimage import uniform_filter

VIEWS = 11  # hashes per photo: the whole picture, then 5% and 10% cut away five ways each
_ANCHORS = ((0.5, 0.5), (0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0))
PLAIN_STD = 2.0  # grey levels (of 255) a picture's pixels must spread over to be hashed
HASHED_SIDE = 128  # views are cut from the picture at about this size (pHash looks at 32 x 32)
_PHASH_BITS = 8  # per side: 64-bit hashes
# Candidates: a copy's whole hash this near one of a photo's views. Copies measured: resized and
# recompressed within 4 bits, cut by 10% within 14 (99% within 12); other photos as near as 10. Every
# candidate costs decoding two photos at commit, so the bound is where a copy is still likely found.
CANDIDATE_BITS = 12
# And all of a copy's views near the original's: each of the copy's 11 views has one of the
# original's within this many bits on average. Copies of 500 real photos: at most 16.2 (99% within
# 13.5); pairs of unrelated photos: 99% above 21.3 (benchmarks/studies/copy_quality.py --fit).
# This keeps the hashes' chance near misses, which grow with the library (about two a copy among a
# million originals), from being decoded.
MAX_MEAN_VIEW_BITS = 18.0
CANDIDATES_PER_COPY = 4  # the nearest this many are compared by their pixels
# Pixels: both at 32 x 32 grey levels, the original's boxes cut from 4x finer ones; a copy may have
# lost up to 12% of each dimension, from either side. The threshold is 0.01 above the best that a
# different photo (the same landmark, the next frame of a flight) reached against half of 500 real
# originals (benchmarks/copies_quality.py --fit; 0.923 in the first study); at it the other half's
# copies were found 99% of the time, with no wrong original. A plain picture (one colour) scores 0.
OVERLAY_SIDE = 32
SOURCE_SIDE = OVERLAY_SIDE * 4
MIN_OVERLAY = 0.93
# And the fine detail (each less its blur over a quarter of the side) must correlate: copies of real
# photos measured at 0.88 and more (99%), other real photos at most 0.73; two smooth gradients, which
# correlate at 0.998 whole, at 0.48.
MIN_DETAIL = 0.75
DETAIL_PARTS = 4
_SHARES = np.linspace(0.0, 0.12, 7)
_CUT_AT = np.linspace(0.0, 1.0, 5)  # where the cut was: all from the left or top (0) ... the other side


def picture_hashes(image: Image.Image) -> str | None:
    """The VIEWS perceptual hashes of an upright picture, as 16 hex digits each, the whole first;
    None for a plain picture (one colour, give or take noise: a lens cap, a blank screen), which
    has nothing to tell it from any other plain one, and would make every pair of them a candidate."""
    grey = image.convert("L")
    grey.thumbnail((HASHED_SIDE, HASHED_SIDE), Image.Resampling.BOX)
    if float(np.asarray(grey, dtype=np.float32).std()) < PLAIN_STD:
        return None
    return "".join(phashes(picture_views(grey)))


def phashes(views: list[Image.Image]) -> list[str]:
    """imagehash's pHash (64 bits) of each grey picture, as hex, bit for bit: the same resizing and
    the same DCT, run over all of them at once (half the time of one call per picture)."""
    side = _PHASH_BITS * 4
    pixels = np.stack([np.asarray(view.resize((side, side), Image.Resampling.LANCZOS)) for view in views])
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=1), axis=2)
    low = dct[:, :_PHASH_BITS, :_PHASH_BITS].reshape(len(views), -1)
    bits = np.packbits(low > np.median(low, axis=1, keepdims=True), axis=1)
    return [row.tobytes().hex() for row in bits]


def picture_views(image: Image.Image) -> list[Image.Image]:
    """The picture as a copy may show it: whole, and with 5% and 10% of each side's length cut
    away, centred and from each corner. A copy cut in between lies near one of them."""
    width, height = image.size
    views = [image]
    for share in (0.05, 0.10):
        cut_x, cut_y = width * share, height * share
        for ax, ay in _ANCHORS:
            left, top = round(cut_x * ax), round(cut_y * ay)
            views.append(image.crop((left, top, left + round(width - cut_x), top + round(height - cut_y))))
    return views


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
    copies: np.ndarray, originals: np.ndarray, max_bits: int = CANDIDATE_BITS, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (copy, original) with one of the original's views (`originals`, m x VIEWS) within
    `max_bits` of the copy's whole hash (`copies`, n): their positions and the bits apart, sorted.
    Every pair is one XOR and one bit count per view: the larger side is cut into blocks, which
    every item of the other side meets in turn, shared among `threads` (numpy lets go of the GIL).
    The cost grows with copies x originals: docs/benchmarks.md, "Copies at a million rows"."""
    views = np.ascontiguousarray(originals.T)  # VIEWS x m
    wholes = np.ascontiguousarray(copies)
    by_original_blocks = len(wholes) <= len(originals)
    size = originals.shape[0] if by_original_blocks else len(wholes)
    blocks = [(start, min(start + _BLOCK, size)) for start in range(0, size, _BLOCK)]

    def block_pairs(block: tuple[int, int]) -> list[np.ndarray]:
        start, end = block
        if by_original_blocks:
            return _pairs(wholes, views[:, start:end], max_bits, original_offset=start)
        return _pairs(wholes[start:end], views, max_bits, copy_offset=start)

    with ThreadPoolExecutor(threads or min(4, os.cpu_count() or 1)) as pool:
        found = [part for parts in pool.map(block_pairs, blocks) for part in parts]
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8)
    pairs = np.concatenate(found, axis=1)
    pairs = pairs[:, np.lexsort((pairs[1], pairs[0]))]
    return pairs[0], pairs[1], pairs[2].astype(np.uint8)


_BLOCK = 65536  # originals (x VIEWS hashes) or copies per block: fewer, longer numpy calls win


def _pairs(
    wholes: np.ndarray, views: np.ndarray, max_bits: int, copy_offset: int = 0, original_offset: int = 0
) -> list[np.ndarray]:
    """The near pairs between these copies' whole hashes and these originals' views (VIEWS x m),
    looping over the fewer: each as a 3 x k array (copy, original, bits apart)."""
    found = []
    if len(wholes) <= views.shape[1]:  # each copy against the block of originals
        buffers = _buffers(views.shape[1])
        for position, whole in enumerate(wholes):
            apart = _fewest_bits(views, np.full(VIEWS, whole), *buffers)
            near = np.flatnonzero(apart <= max_bits)
            if len(near):
                found.append(
                    np.stack(
                        [np.full(len(near), position + copy_offset), near + original_offset, apart[near]]
                    )
                )
    else:  # each original's views against the block of copies
        buffers = _buffers(len(wholes))
        for position in range(views.shape[1]):
            apart = _fewest_bits(wholes, views[:, position], *buffers)
            near = np.flatnonzero(apart <= max_bits)
            if len(near):
                found.append(
                    np.stack(
                        [near + copy_offset, np.full(len(near), position + original_offset), apart[near]]
                    )
                )
    return [part.astype(np.int64) for part in found]


def _buffers(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(size, np.uint64), np.empty(size, np.uint8), np.empty(size, np.uint8)


def _fewest_bits(
    left: np.ndarray, right: np.ndarray, xored: np.ndarray, bits: np.ndarray, nearest: np.ndarray
) -> np.ndarray:
    """Per item, the fewest bits between left[view] (or `left`, one array for every view) and the
    hash right[view], over the views, computed in the buffers given."""
    for view in range(VIEWS):
        np.bitwise_xor(left[view] if left.ndim == 2 else left, right[view], out=xored)
        np.bitwise_count(xored, out=bits if view else nearest)
        if view:
            np.minimum(nearest, bits, out=nearest)
    return nearest


def mean_view_bits(copy_views: np.ndarray, original_views: np.ndarray) -> np.ndarray:
    """Per pair (rows of two k x VIEWS arrays): the bits from each of the copy's views to the
    nearest of the original's, averaged over the copy's views."""
    apart = np.bitwise_count(copy_views[:, :, None] ^ original_views[:, None, :])  # k x VIEWS x VIEWS
    return apart.min(axis=2).mean(axis=1)


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
    """How well a copy (`copy_grey`) lies over the box of an original (`original_grey`) it fits
    best: the correlation of their grey levels, 1 for the same pixels, near 0 for unrelated
    pictures; but no more than their fine detail's correlation allows (shifted onto the same scale,
    so that the score clears MIN_OVERLAY only where both clear theirs). Two smooth pictures (two
    skies, two gradients) correlate as well as a copy does; what is left when each is blurred does
    not."""
    rows, columns = _BOX_ROWS[:, :, None], _BOX_COLUMNS[:, None, :]
    whole = _standardised(original[rows, columns]) @ _standardised(copy[None])[0]  # per box
    best = int(whole.argmax())
    cut_detail = _detail(original, SOURCE_SIDE // DETAIL_PARTS)[rows[best], columns[best]]
    detail = float(
        (
            _standardised(cut_detail[None])
            @ _standardised(_detail(copy, OVERLAY_SIDE // DETAIL_PARTS)[None])[0]
        )[0]
    )
    return min(float(whole[best]), detail + MIN_OVERLAY - MIN_DETAIL)


def _detail(grey: np.ndarray, window: int) -> np.ndarray:
    """What is left of grey levels less their box blur over `window` cells."""
    return grey - uniform_filter(grey, window, mode="nearest")
