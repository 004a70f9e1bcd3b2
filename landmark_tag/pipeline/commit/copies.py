"""The copy pass at commit: which photo without GPS is a copy of which other photo in the output
(`locating.copies` says how copies are told). Only the night's new photos are compared: a new photo
without GPS with every possible original, and the earlier photos without GPS that have no original
yet with the new possible originals; a copy found on an earlier night keeps its original while
that photo is still in the output. Candidates are decoded here, a few per copy, in threads.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.images import DEFAULT_MAX_PIXELS, load_rgb
from landmark_tag.files.results import Status
from landmark_tag.files.storage import open_binary
from landmark_tag.locating.copies import (
    CANDIDATES_PER_COPY,
    MAX_MEAN_VIEW_BITS,
    MIN_OVERLAY,
    SOURCE_SIDE,
    copy_grey,
    mean_view_bits,
    near_pairs,
    original_grey,
    overlay_score,
    parse_hashes,
)
from landmark_tag.locating.photos import flags

logger = logging.getLogger(__name__)
DECODE_THREADS = 4  # decoding releases the GIL; files in a bucket wait on the network
GREYS_KEPT = 256
# What the copy pass keeps of an earlier row that this run examined again.
REPLACED_COLUMNS = ("path", "picture_hashes", "copy_of")


@dataclass
class CopiesFound:
    """Per row of the staged columns, the row it is a copy of (-1: none), and what it took."""

    original: np.ndarray
    compared: int = 0  # new photos compared by their hashes
    checked: int = 0  # candidate pairs compared by their pixels
    unreadable: list[str] = field(default_factory=list)  # candidates that could not be decoded


def no_copies(rows: int) -> CopiesFound:
    return CopiesFound(np.full(rows, -1, dtype=np.int64))


def _flags(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: has its own GPS, carries a capture time of its own, and failed."""
    own_gps = flags(pc.is_valid(table.column("gps_latitude")))
    timed = flags(pc.is_valid(table.column("taken_local")))
    failed = flags(pc.equal(table.column("status"), Status.FAILED.value))
    return own_gps, timed, failed


@dataclass(frozen=True)
class CopySearch:
    """How the copy pass works: whether it looks for new copies (--copies), and how it reads photos."""

    search: bool = True
    storage_options: dict[str, Any] | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS


def find_copies(
    table: pa.Table, fresh_from: int, settings: CopySearch, replaced: pa.Table | None = None
) -> CopiesFound:
    """The copy of each row of `table` (INPUT_COLUMNS of `locate`, earlier rows first, this run's
    from `fresh_from`). A copy has no GPS of its own; its original has GPS, or a capture time where
    the copy has none (two photos without GPS and with times are not each other's copies). Without
    `search` (--no-copies), only the copies found on earlier nights are kept. `replaced`
    (REPLACED_COLUMNS) holds the earlier rows of photos this run examined again: one whose picture
    hashes did not change (--full, another model) is not new tonight, and keeps its original."""
    storage_options, max_pixels = settings.storage_options, settings.max_pixels
    n = table.num_rows
    found = no_copies(n)
    if "picture_hashes" not in table.column_names or n == 0:
        return found
    hashes, hashed = parse_hashes(table.column("picture_hashes"))
    own_gps, timed, failed = _flags(table)
    may_copy = hashed & ~own_gps & ~failed
    may_be_original = hashed & ~failed & (own_gps | timed)
    paths = table.column("path").to_pylist()
    earlier_copy_of = table.column("copy_of").to_pylist() if "copy_of" in table.column_names else [None] * n
    fresh = np.arange(n) >= fresh_from
    if replaced is not None and replaced.num_rows:
        _seen_before(table, paths, fresh, earlier_copy_of, replaced)
    _keep_earlier_matches(~fresh, earlier_copy_of, may_copy, may_be_original, paths, found)
    if not settings.search:
        return found
    # Candidates: (copy row) -> [(bits apart, original row)]. A copy with a capture time of its own
    # can only be a copy of a photo with GPS.
    candidates: dict[int, list[tuple[int, int]]] = {}

    def collect(copy_rows: np.ndarray, original_rows: np.ndarray) -> None:
        for copy_mask, original_mask in ((timed, own_gps), (~timed, np.ones(n, dtype=bool))):
            copies_here = copy_rows[copy_mask[copy_rows]]
            originals_here = original_rows[original_mask[original_rows]]
            if not len(copies_here) or not len(originals_here):
                continue
            at, near, bits = near_pairs(hashes[copies_here, 0], hashes[originals_here])
            copy_at, original_at = copies_here[at], originals_here[near]
            agree = mean_view_bits(hashes[copy_at], hashes[original_at]) <= MAX_MEAN_VIEW_BITS
            for copy_row, original_row, apart in zip(
                copy_at[agree].tolist(), original_at[agree].tolist(), bits[agree].tolist(), strict=True
            ):
                if copy_row != original_row:
                    candidates.setdefault(copy_row, []).append((apart, original_row))

    new_copies = np.flatnonzero(may_copy & fresh)
    collect(new_copies, np.flatnonzero(may_be_original))
    waiting = np.flatnonzero(may_copy & ~fresh & (found.original < 0))
    new_originals = np.flatnonzero(may_be_original & fresh)
    collect(waiting, new_originals)
    found.compared = len(new_copies) + len(new_originals)
    if candidates:
        _check_pixels(candidates, paths, storage_options, max_pixels, found)
    if found.unreadable:
        logger.warning(
            "copies: %d photo(s) could not be read again to compare their pixels (not compared "
            "tonight), e.g. %s",
            len(found.unreadable),
            found.unreadable[0],
        )
    return found


def _seen_before(
    table: pa.Table,
    paths: list[str],
    fresh: np.ndarray,
    earlier_copy_of: list[str | None],
    replaced: pa.Table,
) -> None:
    """This run's rows whose photo an earlier run saw with the same picture hashes: not new, and
    with the original that run found (in place, in `fresh` and `earlier_copy_of`)."""
    before = {
        path: (hashes, copy_of)
        for path, hashes, copy_of in zip(
            *(replaced.column(c).to_pylist() for c in REPLACED_COLUMNS), strict=True
        )
        if hashes is not None
    }
    rows = np.flatnonzero(fresh)
    now = table.column("picture_hashes").take(pa.array(rows)).to_pylist()
    for row, hashes in zip(rows.tolist(), now, strict=True):
        seen = before.get(paths[row])
        if seen is not None and seen[0] == hashes:
            fresh[row] = False
            earlier_copy_of[row] = seen[1]


def _keep_earlier_matches(
    earlier: np.ndarray,
    earlier_copy_of: list[str | None],
    may_copy: np.ndarray,
    may_be_original: np.ndarray,
    paths: list[str],
    found: CopiesFound,
) -> None:
    """An earlier night's original, where that photo is still in the output, unchanged, and still
    could be one (a changed one is compared again, as tonight's)."""
    row_of = {path: row for row, path in enumerate(paths)}
    for row in np.flatnonzero(earlier & may_copy).tolist():
        original = earlier_copy_of[row]
        at = row_of.get(original) if original is not None else None
        if at is not None and earlier[at] and may_be_original[at]:
            found.original[row] = at


def _check_pixels(
    candidates: dict[int, list[tuple[int, int]]],
    paths: list[str],
    storage_options: dict[str, Any] | None,
    max_pixels: int,
    found: CopiesFound,
) -> None:
    """Each copy's nearest candidates compared by their pixels: the best that clears MIN_OVERLAY
    is its original. A photo that cannot be read now is no one's copy or original tonight."""

    # An original with several copies is read once while they are near in the queue; the cache is
    # bounded (an original's grey levels are 64 KB), so a night with many candidates stays small.
    @functools.lru_cache(maxsize=GREYS_KEPT)
    def grey(row: int, as_original: bool) -> np.ndarray | None:
        return _read_grey(paths[row], as_original, storage_options, max_pixels, found)

    def best_original(copy_row: int) -> tuple[int, int]:
        nearest = sorted(candidates[copy_row])[:CANDIDATES_PER_COPY]
        copy = grey(copy_row, as_original=False)
        if copy is None:
            return -1, 0
        best, best_score = -1, MIN_OVERLAY
        for _, original_row in nearest:
            original = grey(original_row, as_original=True)
            score = overlay_score(copy, original) if original is not None else -1.0
            if score >= best_score:
                best, best_score = original_row, score
        return best, len(nearest)

    rows = sorted(candidates)
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        for copy_row, (original_row, checked) in zip(rows, pool.map(best_original, rows), strict=True):
            found.checked += checked
            if original_row >= 0:
                found.original[copy_row] = original_row


def _read_grey(
    path: str,
    as_original: bool,
    storage_options: dict[str, Any] | None,
    max_pixels: int,
    found: CopiesFound,
) -> np.ndarray | None:
    to_grey: Callable = original_grey if as_original else copy_grey
    try:
        with open_binary(path, storage_options) as handle:
            return to_grey(load_rgb(handle, SOURCE_SIDE, max_pixels))
    except Exception:  # gone, changed or broken since it was examined: not compared tonight
        found.unreadable.append(path)
        return None
