"""Sidecars brought along with the published output (`--write-xmp`): which photos' sidecars must
change (the rows tagged in this run, and any whose location changed since earlier runs put one
there), the tags to merge into them, and `<out>.sidecars-synced`, which says the sidecars are in
step with the output, so that a run after one without --write-xmp brings every sidecar up to date.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.results import Status
from landmark_tag.files.storage import exists, publish, remove_file, staging_file
from landmark_tag.locating.photos import flags, floats
from landmark_tag.pipeline.commit.sidecar import SidecarTag
from landmark_tag.pipeline.commit.sidecar_files import SidecarWriter
from landmark_tag.pipeline.target import OutputTarget

SIDECAR_COLUMNS = [
    "path", "landmark_1", "estimated_country", "location_latitude", "location_longitude", "location_source",
    "location_note", "named_place",
]  # fmt: skip


class SidecarsInStep:
    """`<out>.sidecars-synced`: the photos' sidecars were brought up to this output by a run with
    --write-xmp. A run without it that moves locations removes the mark, and a run with it that finds
    no mark beside an earlier output (sidecars written before, by a run without it, or by a version
    without the mark) brings every sidecar up to date (one already right is read, not written)."""

    NOTE = "the sidecars follow this output; a run without --write-xmp that moves locations removes this\n"

    def __init__(self, target: OutputTarget) -> None:
        self.path, self.storage_options = f"{target.path}.sidecars-synced", target.storage_options

    def exists(self) -> bool:
        return exists(self.path, self.storage_options)

    def mark(self) -> None:
        if self.exists():
            return
        tmp = staging_file(self.path)
        try:
            with open(tmp, "w") as handle:
                handle.write(self.NOTE)
            publish(tmp, self.path, self.storage_options)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def clear(self) -> None:
        if self.exists():
            remove_file(self.path, self.storage_options)


def _ours(after: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source, latitude, longitude) of the location that belongs in each sidecar: the row's, unless
    it is the photo's own GPS (the photo says it itself)."""
    source = np.asarray(after.column("location_source").to_pylist(), dtype=object)
    source[source == "gps"] = None
    return source, floats(after.column("location_latitude")), floats(after.column("location_longitude"))


def changed_rows(before: pa.Table, after: pa.Table) -> np.ndarray:
    """Per row, whether what belongs in its sidecar differs from what earlier runs may have put there."""
    held_source, held_lat, held_lon = _held(before)
    source, lat, lon = _ours(after)
    ours, held = source != None, held_source != None  # noqa: E711 (elementwise)
    moved = ~np.isclose(lat, held_lat, rtol=0.0, atol=1e-7) | ~np.isclose(lon, held_lon, rtol=0.0, atol=1e-7)
    return (ours != held) | (ours & held & ((source != held_source) | moved))


def sync_sidecars(
    before: pa.Table, after: pa.Table, fresh_from: int, sidecars: SidecarWriter, every_row: bool = False
) -> None:
    """Bring the sidecars up to the published output, each written at most once. The rows from
    `fresh_from` on were tagged in this run: a tagged one gets its landmark, country and location;
    a location comes with the place it lies in (`place_country`, `place_region`, `place_city`), where
    known, and says whether the scan had landmarks off.
    Any other row's sidecar changes only when its location did (with `every_row`, every row's is
    brought up to date): what it may hold of ours is the row's earlier location, or for a tagged row
    without one, its landmark's place; what it should hold is the new location, unless that is the
    photo's own GPS. A location now found is written, one that no longer holds is taken out
    (`remove_location`)."""
    source, lat, lon = _ours(after)
    changed = np.ones(before.num_rows, dtype=bool) if every_row else changed_rows(before, after)
    fresh = np.arange(before.num_rows) >= fresh_from
    tagged_now = _tagged(before) & fresh
    # A fresh row with a location of ours: its sidecar may say landmarks were off, and no longer be.
    # A row whose named place (--places) changed: its sidecar's Location follows, own GPS or not.
    renamed = _renamed(before, after)
    rows = np.flatnonzero(changed | tagged_now | (fresh & (source != None)) | renamed)  # noqa: E711
    picked = (
        before.select(["path", "status", "landmark_1", "estimated_country"]).take(pa.array(rows)).to_pylist()
    )
    radius = floats(after.column("location_radius_m"))
    columns = ["place_country", "place_region", "place_city", "named_place"]
    names = after.select(columns).take(pa.array(rows)).to_pylist()
    tags = []
    for index, row, place in zip(rows, picked, names, strict=True):
        keyword, code = (row["landmark_1"], row["estimated_country"]) if tagged_now[index] else (None, None)
        # The landmark of a photo tagged on an earlier run is in its sidecar already, as its Location.
        landmark = row["landmark_1"] if row["status"] == Status.TAGGED.value else None
        if source[index] is None:
            # Withheld (its sources disagree): the landmark's country is as doubtful as its place.
            # Own GPS: the landmark agrees with it, and a named place holds.
            own_gps = not np.isnan(lat[index])
            code = code if own_gps else None
            named = place["named_place"] if own_gps else None
            tag = SidecarTag(
                keyword, country_code=code, remove_location=True, location_name=named or landmark
            )
        else:
            code = place["place_country"] or code  # our location's country, where its whole circle is
            method = f"landmark-tag: {source[index]}"
            if source[index] != "landmark":
                method += f", within {radius[index]:,.0f} m"
            at = (float(lat[index]), float(lon[index]))
            tag = SidecarTag(
                keyword,
                *at,
                code,
                method=method,
                radius_m=float(radius[index]),
                region=place["place_region"],
                city=place["place_city"],
                landmarks_off=row["status"] == Status.LANDMARKS_OFF.value,
                location_name=place["named_place"] or landmark,
            )
        tags.append((row["path"], tag))
    sidecars.write_tags(tags)


def _renamed(before: pa.Table, after: pa.Table) -> np.ndarray:
    """Per row, whether its named place (--places) is not the one earlier runs gave it."""
    now = np.asarray(after.column("named_place").to_pylist(), dtype=object)
    return np.asarray(before.column("named_place").to_pylist(), dtype=object) != now


def _tagged(table: pa.Table) -> np.ndarray:
    return flags(pc.equal(table.column("status"), Status.TAGGED.value))


def _held(before: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source, latitude, longitude) of the location landmark-tag may have put in each sidecar: the
    row's location, or for a tagged row without one or a note why (an output older than the
    location columns, whose sidecars were written at tagging), its landmark's place. A row whose
    location was withheld (its note says why) had it taken out of the sidecar by that commit."""
    source = np.asarray(before.column("location_source").to_pylist(), dtype=object)
    noted = np.asarray(before.column("location_note").to_pylist(), dtype=object) != None  # noqa: E711
    source[source == "gps"] = None
    lat, lon = floats(before.column("location_latitude")), floats(before.column("location_longitude"))
    tagged = _tagged(before)
    landmark_lat, landmark_lon = (
        floats(before.column("estimated_latitude")),
        floats(before.column("estimated_longitude")),
    )
    by_tagging = (source == None) & ~noted & tagged & ~np.isnan(landmark_lat)  # noqa: E711
    source[by_tagging] = "landmark"
    return source, np.where(by_tagging, landmark_lat, lat), np.where(by_tagging, landmark_lon, lon)
