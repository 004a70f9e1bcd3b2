"""GPS tracks (`--gpx FILE|DIR`): their timed points, read with gpxpy, for the location pass.

A folder gives every `.gpx` file in it, at any depth. A track file that is missing is refused before
the scan starts; one that cannot be read, or holds no timed point, is reported and left out, and the
scan goes on. Only regular files are read (a FIFO would block the scan, a link to /dev/zero never
end), at most MAX_TRACK_BYTES each. Every timed point counts: track points, route points and
waypoints; one that is not a place (latitude beyond 90, longitude beyond 180, 0,0) is left out and
counted. Points are sorted by time (apps write them out of order), and times without a zone are read
as UTC, as GPX defines them. Files in UTF-8 or UTF-16 (with its byte order mark) are read.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterator, Sequence
from datetime import timezone
from typing import Any

import gpxpy
import numpy as np

from landmark_tag.errors import LandmarkTagError
from landmark_tag.files.storage import NotOurs, exists, find_files, open_binary, regular_file_size
from landmark_tag.locating.fixes import Fixes, valid_coordinates

logger = logging.getLogger(__name__)


class TrackNotFoundError(LandmarkTagError):
    """A `--gpx` path that does not exist."""


# gpxpy holds a whole file as objects, about 25 times its size in memory: a larger file (a year
# logged every second) is refused with a word, rather than taking the machine's memory.
MAX_TRACK_BYTES = 256 << 20
# A file this large takes a while (about 0.7 s per MB): say so before.
ANNOUNCE_TRACK_BYTES = 16 << 20


class _NotATrack(Exception):
    """A file under --gpx that is not read; the message says why."""


def _read_bytes(path: str, storage_options: dict[str, Any] | None) -> bytes:
    try:
        size = regular_file_size(path, storage_options)
    except NotOurs as exc:
        raise _NotATrack(str(exc)) from None
    if size is not None and size > MAX_TRACK_BYTES:
        raise _NotATrack(
            f"{size / 2**20:,.0f} MB, over the {MAX_TRACK_BYTES >> 20} MB a track may have; split it"
        )
    if size is not None and size > ANNOUNCE_TRACK_BYTES:
        logger.warning("%s: reading a %s MB GPS track", path, f"{size / 2**20:,.0f}")
    with open_binary(path, storage_options) as handle:
        content = handle.read(MAX_TRACK_BYTES + 1)
    if len(content) > MAX_TRACK_BYTES:
        raise _NotATrack(f"over the {MAX_TRACK_BYTES >> 20} MB a track may have; split it")
    return content


_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")


def _text(content: bytes) -> str:
    """The file's text: UTF-16 by its byte order mark, else UTF-8; the XML declaration then says
    UTF-8, as the text is handed on."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = content.decode("utf-16")
    else:
        text = content.decode("utf-8-sig", "replace")
    return _DECLARED_ENCODING.sub(r"\1\2UTF-8\2", text, count=1)


def _timed_points(gpx: gpxpy.gpx.GPX) -> Iterator[Any]:
    """Every point with a time: of tracks, routes and waypoints."""
    for track in gpx.tracks:
        for segment in track.segments:
            yield from segment.points
    for route in gpx.routes:
        yield from route.points
    yield from gpx.waypoints


def track_files(paths: Sequence[str], storage_options: dict[str, Any] | None = None) -> list[str]:
    """The GPX files `paths` name, sorted within each folder; refuses a path that does not exist."""
    files: list[str] = []
    for path in paths:
        if not exists(path, storage_options):
            raise TrackNotFoundError(f"the GPS track (--gpx) {path} does not exist")
        files += find_files(path, ".gpx", storage_options)
    return files


def read_tracks(paths: Sequence[str], storage_options: dict[str, Any] | None = None) -> Fixes | None:
    """Every timed point of the tracks `paths` name, as fixes in UTC; None without any."""
    times: list[float] = []
    lats: list[float] = []
    lons: list[float] = []
    for path in track_files(paths, storage_options):
        try:
            gpx = gpxpy.parse(_text(_read_bytes(path, storage_options)))
        except _NotATrack as exc:
            logger.warning("%s: not read as a GPS track (%s); going on without it", path, exc)
            continue
        except Exception as exc:  # gpxpy raises its own and XML errors; a bad file is one warning
            logger.warning("%s: cannot read this GPS track (%s); going on without it", path, exc)
            continue
        before = len(times)
        for point in _timed_points(gpx):
            if point.time is None:
                continue
            moment = point.time if point.time.tzinfo else point.time.replace(tzinfo=timezone.utc)
            times.append(moment.timestamp())
            lats.append(point.latitude)
            lons.append(point.longitude)
        if len(times) == before:
            logger.warning("%s: this GPS track has no point with a time; going on without it", path)
            continue
        lat, lon = np.array(lats[before:], dtype=float), np.array(lons[before:], dtype=float)
        invalid = int(np.count_nonzero(~valid_coordinates(lat, lon)))
        if invalid:
            logger.warning(
                "%s: %d of its %d points are not places (latitude beyond 90, longitude beyond 180, or"
                " 0,0); left out",
                path,
                invalid,
                len(lat),
            )
    if not times:
        return None
    track = Fixes.of(np.array(times), np.array(lats, dtype=float), np.array(lons, dtype=float))
    return track if len(track) else None
