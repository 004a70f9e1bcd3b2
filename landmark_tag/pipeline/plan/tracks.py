"""GPS tracks (`--gpx FILE|DIR`): their timed points, read with gpxpy, for the location pass.

A folder gives every `.gpx` file in it, at any depth. A track file that is missing is refused before
the scan starts; one that cannot be read, or holds no timed point, is reported and left out, and the
scan goes on. Points are sorted by time (apps write them out of order), and times without a zone
are read as UTC, as GPX defines them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import timezone
from typing import Any

import gpxpy
import numpy as np

from landmark_tag.errors import LandmarkTagError
from landmark_tag.pipeline.commit.fixes import Fixes
from landmark_tag.storage import exists, filesystem, is_url, local_path, open_binary

logger = logging.getLogger(__name__)


class TrackNotFoundError(LandmarkTagError):
    """A `--gpx` path that does not exist."""


def track_files(paths: Sequence[str], storage_options: dict[str, Any] | None = None) -> list[str]:
    """The GPX files `paths` name, sorted within each folder; refuses a path that does not exist."""
    files: list[str] = []
    for path in paths:
        if not exists(path, storage_options):
            raise TrackNotFoundError(f"the GPS track (--gpx) {path} does not exist")
        if is_url(path):
            fs, inner = filesystem(path, storage_options)
            if fs.isdir(inner):
                found = fs.find(inner)
                files += sorted(fs.unstrip_protocol(p) for p in found if p.lower().endswith(".gpx"))
            else:
                files.append(path)
        elif os.path.isdir(local_path(path)):
            for folder, _, names in sorted(os.walk(local_path(path))):
                files += [os.path.join(folder, n) for n in sorted(names) if n.lower().endswith(".gpx")]
        else:
            files.append(path)
    return files


def read_tracks(paths: Sequence[str], storage_options: dict[str, Any] | None = None) -> Fixes | None:
    """Every timed point of the tracks `paths` name, as fixes in UTC; None without any."""
    times: list[float] = []
    lats: list[float] = []
    lons: list[float] = []
    for path in track_files(paths, storage_options):
        try:
            with open_binary(path, storage_options) as handle:
                gpx = gpxpy.parse(handle.read().decode("utf-8", "replace"))
        except Exception as exc:  # gpxpy raises its own and XML errors; a bad file is one warning
            logger.warning("%s: cannot read this GPS track (%s); going on without it", path, exc)
            continue
        before = len(times)
        for track in gpx.tracks:
            for segment in track.segments:
                for point in segment.points:
                    if point.time is None:
                        continue
                    moment = point.time if point.time.tzinfo else point.time.replace(tzinfo=timezone.utc)
                    times.append(moment.timestamp())
                    lats.append(point.latitude)
                    lons.append(point.longitude)
        if len(times) == before:
            logger.warning("%s: this GPS track has no point with a time; going on without it", path)
    if not times:
        return None
    return Fixes.of(np.array(times), np.array(lats), np.array(lons))
