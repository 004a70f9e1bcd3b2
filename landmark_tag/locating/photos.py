"""The columns `locate` reads, as arrays: each photo's GPS, clocks (in UTC where the photos say,
and the clocks learned from them), camera and landmark, and whether it is a screenshot."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from landmark_tag.files.results import Status
from landmark_tag.locating.clocks import camera_offsets
from landmark_tag.locating.fixes import LocateSettings

# A picture no camera took: no camera make or model in its EXIF, and a PNG (what phones and computers
# save their screens as) or a screenshot's name, in the languages phones name them in.
SCREENSHOT_NAME = (
    r"(\.png$|screenshot|screen[ _-]?shot|bildschirmfoto|captura|capture d.cran|schermafbeelding|"
    r"sk.rmavbild|skjermbilde|schermata|снимок экрана|スクリーンショット|截屏|屏幕截图)"
)


def _seconds(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as float seconds, NaN where empty (naive ones as their wall clock)."""
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False), dtype=float) / 1e6


def floats(column: pa.ChunkedArray) -> np.ndarray:
    """A float column as an array, NaN where empty."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def flags(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean column as an array, False where empty."""
    return np.asarray(pc.fill_null(column, False).to_numpy(zero_copy_only=False), dtype=bool)


def screenshots(table: pa.Table) -> np.ndarray:
    """Per row of `table` (with `path` and `camera`), whether it is a picture no camera took."""
    no_camera = flags(pc.is_null(table.column("camera")))
    rows = np.flatnonzero(no_camera)  # only these can be screenshots: most photos name a camera
    named = pc.match_substring_regex(table.column("path").take(rows), SCREENSHOT_NAME, ignore_case=True)
    shot = np.zeros(table.num_rows, dtype=bool)
    shot[rows] = flags(named)
    return shot


def offset_text(seconds: float) -> str:
    sign, seconds = ("-" if seconds < 0 else "+"), abs(round(seconds))
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Photos:
    """The columns `locate` reads, as arrays, and each photo's clocks."""

    def __init__(self, table: pa.Table) -> None:
        self.n = table.num_rows
        self.lat, self.lon = floats(table.column("gps_latitude")), floats(table.column("gps_longitude"))
        self.own = ~np.isnan(self.lat) & ~np.isnan(self.lon)
        self.local = _seconds(table.column("taken_local"))
        self.gps_time = _seconds(table.column("gps_time"))
        encoded = pc.dictionary_encode(table.column("camera")).combine_chunks()
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=float)
        self.cameras = np.where(np.isnan(codes), -1, codes).astype(np.int64)
        self.camera_names = encoded.dictionary.to_pylist()
        self.tagged = flags(pc.equal(table.column("status"), Status.TAGGED.value))
        self.screenshot = screenshots(table)
        self.landmark_lat = floats(table.column("estimated_latitude"))
        self.landmark_lon = floats(table.column("estimated_longitude"))
        # UTC where the photo says it, else through its camera's learned offset, else its GPS time;
        # a taken_at an earlier commit worked out (by this rule, or from the time zone) is worked
        # out again, never read as the photo's own.
        self.utc = _seconds(table.column("taken_at"))
        self.utc[flags(pc.not_equal(table.column("taken_at_source"), "exif"))] = np.nan
        self.utc_source = np.full(self.n, None, dtype=object)
        self.utc_source[~np.isnan(self.utc)] = "exif"
        # The photo's own offset tag: a phone's clock follows the zone it is in, and two bodies of one
        # model (phones write no serial number) are two clocks when their offsets differ.
        self.own_offset = self.local - self.utc
        self.clocks: list[str] = []
        for camera, offset in camera_offsets(self.local, self.gps_time, self.cameras).items():
            mine = (self.cameras == camera) & np.isnan(self.utc)
            self.utc[mine] = self.local[mine] - offset
            self.utc_source[mine] = "camera"
            self.clocks.append(
                f"{self.camera_names[camera]}: clock {offset_text(offset)} from UTC (from its GPS times)"
            )
        by_gps_time = np.isnan(self.utc) & ~np.isnan(self.gps_time)
        self.utc[by_gps_time], self.utc_source[by_gps_time] = self.gps_time[by_gps_time], "gps_time"

    def name(self, camera: int) -> str:
        return self.camera_names[camera] if camera >= 0 else "photos without a camera name"


def to_place(photos: Photos, settings: LocateSettings) -> np.ndarray:
    """The photos to place by time or on a track: those without GPS, screenshots only if asked."""
    return np.flatnonzero(~photos.own & (settings.locate_screenshots | ~photos.screenshot))
