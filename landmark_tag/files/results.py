"""A scan's results: the row written for every photo, whatever happened to it; the columns of the
output file (Parquet or CSV, the same either way); and reading an output back. Shared by the scan,
which writes it (`pipeline.commit.write`), the report and the Python API (`read_results`).
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from landmark_tag.errors import ConfigError
from landmark_tag.files.storage import open_binary


class Status(str, Enum):
    TAGGED = "tagged"  # looks like a landmark, and top-1 probability at or above the threshold
    UNCERTAIN = "uncertain"  # looks like a landmark, but which one is below the confidence threshold
    NO_LANDMARK = "no_landmark"  # landmark score below its threshold: shows none of the landmarks
    SKIPPED_GPS = "skipped_gps"  # already located by EXIF GPS; not sent to the model
    LANDMARKS_OFF = "landmarks_off"  # no landmark model ran: located by GPS, tracks and time only
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
    # When it was taken (EXIF; see `locating.exif`): in UTC where the EXIF ties the camera's
    # clock to UTC; the camera's clock as it read (ISO 8601, no zone); its offset; the GPS fix's UTC.
    taken_at: float | None = None  # POSIX seconds
    taken_local: str | None = None
    taken_offset: str | None = None  # "+02:00"
    gps_time: float | None = None  # POSIX seconds
    camera: str | None = None  # make, model and body serial: one camera, one clock
    # The picture's perceptual hashes, whole and cut (locating.copies), to find copies by.
    picture_hashes: str | None = None


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


# ---------------------------------------------------------------- the output file

FORMATS = ("parquet", "csv")
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_TIMESTAMP = pa.timestamp("us", tz="UTC")
LOCATION_COLUMN_NAMES = (
    "location_latitude",
    "location_longitude",
    "location_source",
    "location_radius_m",
    "location_note",
    "place_city",
    "place_region",
    "place_country",
    "place_source",
    "named_place",
    "copy_of",
)


def output_format(path: str | os.PathLike, requested: str | None = None) -> str:
    """The format to write: `requested` if given, else from the suffix (.parquet, .pq or .csv)."""
    if requested:
        if requested not in FORMATS:
            raise ConfigError(f"unknown output format {requested!r} (--format): use parquet or csv")
        return requested
    suffix = Path(str(path)).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigError(
            f"cannot tell the output format from {Path(str(path)).name!r}: use --format parquet|csv"
        )
    return _SUFFIXES[suffix]


def result_schema(k: int) -> pa.Schema:
    """The output columns, in order, for top-`k` results."""
    fields = [
        pa.field("path", pa.string()),
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
        pa.field("gps_latitude", pa.float64()),
        pa.field("gps_longitude", pa.float64()),
        # One location per photo, from its best source (set at commit: locating.locate).
        pa.field("location_latitude", pa.float64()),
        pa.field("location_longitude", pa.float64()),
        pa.field("location_source", pa.string()),  # gps, track, copy, time or landmark
        pa.field("location_radius_m", pa.float64()),
        pa.field("location_note", pa.string()),  # why there is none, where that is worth saying
        # The place the location's whole circle lies in (locating.places), and the data behind it.
        pa.field("place_city", pa.string()),
        pa.field("place_region", pa.string()),
        pa.field("place_country", pa.string()),  # ISO 3166-1 alpha-2
        pa.field("place_source", pa.string()),
        pa.field("named_place", pa.string()),  # --places: the user's name for where it is
        pa.field("copy_of", pa.string()),  # the path of the photo this one is a copy of
        pa.field("estimated_latitude", pa.float64()),
        pa.field("estimated_longitude", pa.float64()),
        pa.field("estimated_country", pa.string()),
    ]
    fields += [pa.field(f"landmark_{i}", pa.string()) for i in range(1, k + 1)]
    fields += [pa.field(f"probability_{i}", pa.float64()) for i in range(1, k + 1)]
    fields += [
        pa.field("landmark_score", pa.float64()),
        pa.field("taken_at", _TIMESTAMP),
        pa.field("taken_local", pa.timestamp("us")),
        pa.field("taken_offset", pa.string()),
        # What ties taken_at to UTC (set at commit, locating.locate): exif, the photo's own offset tag;
        # camera, its camera's offset learned from GPS times; gps_time, its fix's; zone, the time zone.
        pa.field("taken_at_source", pa.string()),
        pa.field("gps_time", _TIMESTAMP),
        pa.field("camera", pa.string()),
        pa.field("picture_hashes", pa.string()),
        pa.field("model", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("modified_at", _TIMESTAMP),
        pa.field("scanned_at", _TIMESTAMP),
    ]
    return pa.schema(fields)


# A CSV cell that starts with one of these is a formula to a spreadsheet (=HYPERLINK(...) and
# worse): such cells are written with a leading apostrophe, as OWASP advises, and read back without.
_FORMULA_START = r"^[=+\-@\t\r]"


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """`table` with every text cell that a spreadsheet would run as a formula quoted by a `'`."""
    for index, column in enumerate(table.schema):
        if pa.types.is_string(column.type):
            values = table.column(index)
            risky = pc.fill_null(pc.match_substring_regex(values, _FORMULA_START), False)
            quoted = pc.binary_join_element_wise("'", values, "")
            table = table.set_column(index, column, pc.if_else(risky, quoted, values))
    return table


def from_spreadsheet_safe(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The values `spreadsheet_safe` quoted, as they were."""
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type):
            quoted = pc.fill_null(pc.match_substring_regex(column, "'" + _FORMULA_START[1:]), False)
            column = pc.if_else(quoted, pc.utf8_slice_codeunits(column, 1), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def to_micros(posix_seconds: float) -> int:
    """The integer microseconds the timestamp columns store (and incremental runs compare)."""
    return round(posix_seconds * 1_000_000)


def _micros_or_none(posix_seconds: float | None) -> int | None:
    return None if posix_seconds is None else to_micros(posix_seconds)


def conform(table: pa.Table, k: int) -> pa.Table:
    """`table` in the current output schema. Outputs written before a column existed lack it; their
    rows get it empty (they keep what the scan that made them found), so upgrading never forces a
    rescan."""
    schema = result_schema(k)
    columns = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, names=schema.names) if table.column_names != schema.names else table


def rows_to_table(rows: list[ResultRow], k: int) -> pa.Table:
    def ranked(values: list, i: int):
        return values[i] if i < len(values) else None

    columns: dict[str, list] = {
        "path": [output_path(r.path) for r in rows],
        "status": [r.status.value for r in rows],
        "error": [r.error for r in rows],
        "gps_latitude": [r.gps_latitude for r in rows],
        "gps_longitude": [r.gps_longitude for r in rows],
        # Locations need every row: the commit sets them (locating.locate).
        **{name: [None] * len(rows) for name in LOCATION_COLUMN_NAMES},
        "estimated_latitude": [r.estimated_latitude for r in rows],
        "estimated_longitude": [r.estimated_longitude for r in rows],
        "estimated_country": [r.estimated_country for r in rows],
    }
    for i in range(k):
        columns[f"landmark_{i + 1}"] = [ranked(r.landmarks, i) for r in rows]
    for i in range(k):
        columns[f"probability_{i + 1}"] = [ranked(r.probabilities, i) for r in rows]
    columns["landmark_score"] = [r.landmark_score for r in rows]
    columns["taken_at"] = [_micros_or_none(r.taken_at) for r in rows]
    columns["taken_local"] = [datetime.fromisoformat(r.taken_local) if r.taken_local else None for r in rows]
    columns["taken_offset"] = [r.taken_offset for r in rows]
    columns["taken_at_source"] = ["exif" if r.taken_at is not None else None for r in rows]
    columns["gps_time"] = [_micros_or_none(r.gps_time) for r in rows]
    columns["camera"] = [r.camera for r in rows]
    columns["picture_hashes"] = [r.picture_hashes for r in rows]
    columns["model"] = [r.model for r in rows]
    columns["size_bytes"] = [r.size_bytes for r in rows]
    columns["modified_at"] = [to_micros(r.modified_at) for r in rows]
    columns["scanned_at"] = [to_micros(r.scanned_at) for r in rows]
    return pa.Table.from_pydict(columns, schema=result_schema(k))


# ---------------------------------------------------------------- reading it back


def _csv_header(handle) -> list[str]:
    return next(csv.reader([handle.readline().decode("utf-8")]), [])


def iter_result_batches(
    path: str,
    fmt: str | None = None,
    storage_options: dict | None = None,
    columns: list[str] | None = None,
    batch_rows: int = 65536,
) -> Iterator[pa.RecordBatch]:
    """Stream a scan output, Parquet or CSV, in batches with the output's column types."""
    with open_binary(str(path), storage_options) as handle:
        if output_format(path, fmt) == "parquet":
            yield from pq.ParquetFile(handle).iter_batches(batch_size=batch_rows, columns=columns)
            return
        header = _csv_header(handle)
        handle.seek(0)
        k = top_k_of(header)
        types = {f.name: f.type for f in result_schema(k)}
        options = pa_csv.ConvertOptions(
            column_types=types, strings_can_be_null=True, include_columns=columns or header
        )
        for batch in pa_csv.open_csv(handle, convert_options=options):
            yield from_spreadsheet_safe(batch)


def top_k_of(columns: Iterable[str]) -> int:
    """k, from an output's column names (`landmark_1` ... `landmark_k`; not `landmark_score`)."""
    return sum(1 for name in columns if name.startswith("landmark_") and name[9:].isdigit())


def result_columns(path: str, fmt: str | None = None, storage_options: dict | None = None) -> list[str]:
    """The column names of an existing output (older versions wrote fewer)."""
    with open_binary(str(path), storage_options) as handle:
        if output_format(path, fmt) == "parquet":
            return pq.ParquetFile(handle).schema_arrow.names
        return _csv_header(handle)


def result_k(path: str, fmt: str | None = None, storage_options: dict | None = None) -> int:
    """How many top-k columns an existing output has."""
    return top_k_of(result_columns(path, fmt, storage_options))


def read_results(
    path: str | os.PathLike, fmt: str | None = None, storage_options: dict | None = None
) -> pd.DataFrame:
    """Read a scan output back, Parquet or CSV, with the same column types either way."""
    batches = list(iter_result_batches(str(path), fmt, storage_options))
    if not batches:
        return pa.Table.from_pylist(
            [], schema=result_schema(result_k(str(path), fmt, storage_options))
        ).to_pandas()
    return pa.Table.from_batches(batches).to_pandas()
