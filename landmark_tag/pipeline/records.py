"""The row the scan writes for every photo it finds, whatever happened to it."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    TAGGED = "tagged"  # looks like a landmark, and top-1 probability at or above the threshold
    UNCERTAIN = "uncertain"  # looks like a landmark, but which one is below the confidence threshold
    NO_LANDMARK = "no_landmark"  # landmark score below its threshold: shows none of the landmarks
    SKIPPED_GPS = "skipped_gps"  # already located by EXIF GPS; not sent to the model
    FAILED = "failed"  # see the error column


@dataclass
class ResultRow:
    path: str
    status: Status
    size_bytes: int
    modified_at: float  # POSIX seconds
    scanned_at: float  # POSIX seconds
    model: str
    error: str | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    # Where the accepted top-1 landmark is (tagged rows whose landmark has a place).
    estimated_latitude: float | None = None
    estimated_longitude: float | None = None
    estimated_country: str | None = None
    landmarks: list[str] = field(default_factory=list)  # best first
    probabilities: list[float] = field(default_factory=list)  # same order as landmarks
    # How much the photo looks like any landmark the model knows (see `openset`); None without one.
    landmark_score: float | None = None


def output_path(path: str) -> str:
    """The `path` column's text for a photo's path. A file name that is not valid UTF-8 (from an
    old camera or a Windows share: `caf\xe9.jpg` in Latin-1) cannot be stored as text as it is;
    its undecodable bytes are written as `\\xNN` escapes instead, so the row is kept and
    matched again on the next run, and every valid name is stored unchanged."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


def status_counts() -> Counter[str]:
    """A count per status, every status present (at 0), for a run's summary."""
    return Counter({status.value: 0 for status in Status})
