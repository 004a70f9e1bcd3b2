"""`build_report`: a scan output in, one self-contained HTML file out.

It reads the output a few times instead of holding it: once for the counts in the header and the
per-landmark table, then once per section, writing each card as its row and thumbnail arrive.
Memory depends on the number of landmarks and the thumbnails in flight, not on the number of rows.
Thumbnails are embedded as `data:` URIs (at most `max_thumbnails` per section, so 20,000 rows do not
make a 200 MB page), or written to an assets folder beside the report, where every photo gets one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import pyarrow.compute as pc

from landmark_tag.errors import LandmarkTagError
from landmark_tag.files.results import (
    Status,
    iter_result_batches,
    output_format,
    result_columns,
    top_k_of,
)
from landmark_tag.files.storage import on_disk, publish, staging_file
from landmark_tag.progress import NoProgress, PhotoProgress
from landmark_tag.report import page
from landmark_tag.report.copy_pairs import original_requests
from landmark_tag.report.location_map import LOCATION_INPUT, LocatedPhotos, map_section
from landmark_tag.report.thumbnails import ImageSink, ThumbnailRequest, iter_thumbnails

PHOTO_SECTIONS = (
    Status.TAGGED.value,
    Status.UNCERTAIN.value,
    Status.NO_LANDMARK.value,
    Status.SKIPPED_GPS.value,
    Status.LANDMARKS_OFF.value,
)
DEFAULT_EMBEDDED_THUMBNAILS = 500


class ReportError(LandmarkTagError):
    """A scan output that cannot be read, or a report that cannot be written."""


@dataclass
class ReportConfig:
    results: str  # a scan output, Parquet or CSV
    out: str = "report.html"
    assets_dir: str | None = None  # write thumbnails here instead of embedding them
    max_thumbnails: int | None = None  # per section; None: 500 embedded, no limit with assets_dir
    thumbnail_size: int = 240
    workers: int | None = None  # thumbnail processes; None: one per core
    results_format: str | None = None
    storage_options: dict | None = None
    throughput: float | None = None  # photos/s of the scan, when known
    title: str | None = None


@dataclass
class ReportSummary:
    out: str
    rows: int
    counts: dict[str, int]
    thumbnails: int  # made or reused
    unavailable: int  # photos that could not be read again: placeholders
    assets_dir: str | None = None


@dataclass
class _Overview:
    k: int = 0
    rows: int = 0
    counts: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    first_scan: dt.datetime | None = None
    last_scan: dt.datetime | None = None
    landmarks: dict[str, dict[str, Any]] = field(default_factory=dict)
    located: LocatedPhotos = field(default_factory=LocatedPhotos)
    named_places: Counter = field(default_factory=Counter)  # photos per --places name
    originals: set[str] = field(default_factory=set)  # the photos copies were found of (copy_of)


def _overview(config: ReportConfig) -> _Overview:
    """Counts per status, model and landmark, and the scan times, from a pass over a few columns."""
    present = result_columns(config.results, config.results_format, config.storage_options)
    overview = _Overview(k=top_k_of(present))
    wanted = [
        "status",
        "landmark_1",
        "probability_1",
        "estimated_country",
        "model",
        "scanned_at",
        "named_place",
        "copy_of",
    ]
    mapped = "location_latitude" in present  # outputs of older versions have no locations to map
    if mapped:
        wanted += [c for c in LOCATION_INPUT if c not in wanted]
    columns = [c for c in wanted if c in present]  # outputs of older versions lack estimated_country
    for batch in iter_result_batches(config.results, config.results_format, config.storage_options, columns):
        if mapped:
            overview.located.add(batch)
        data = batch.to_pydict()
        data.setdefault("estimated_country", [None] * batch.num_rows)
        overview.rows += batch.num_rows
        overview.counts.update(data["status"])
        overview.models.update(m for m in data["model"] if m)
        overview.named_places.update(name for name in data.get("named_place", []) if name)
        overview.originals.update(path for path in data.get("copy_of", []) if path)
        times = [t for t in data["scanned_at"] if t is not None]
        if times:
            overview.first_scan = min([overview.first_scan or times[0], *times])
            overview.last_scan = max([overview.last_scan or times[0], *times])
        judged = zip(
            data["status"], data["landmark_1"], data["probability_1"], data["estimated_country"], strict=True
        )
        for status, landmark, p, country in judged:
            if landmark is None or status not in (Status.TAGGED.value, Status.UNCERTAIN.value):
                continue
            stats = overview.landmarks.setdefault(
                landmark, {"tagged": 0, "uncertain": 0, "probability_sum": 0.0}
            )
            stats[status] += 1
            if status == Status.TAGGED.value:
                stats["probability_sum"] += p
                stats["country"] = country or stats.get("country")
    return overview


_CAPTURE_TIMES = ("taken_at", "taken_local", "gps_time")


def _rows(config: ReportConfig, status: str) -> Iterator[dict[str, Any]]:
    """One section's rows as dicts, a thousand at a time (Python dicts cost far more than Arrow)."""
    batches = iter_result_batches(
        config.results, config.results_format, config.storage_options, batch_rows=1024
    )
    for batch in batches:
        chosen = batch.filter(pc.equal(batch.column("status"), status))
        # Cards show no capture times, and an output may hold ones Python cannot hold (year 10000).
        chosen = chosen.drop_columns([name for name in _CAPTURE_TIMES if name in chosen.column_names])
        yield from chosen.to_pylist()


def _requests(
    config: ReportConfig, status: str, count: int, originals: dict[str, ThumbnailRequest]
) -> Iterator[ThumbnailRequest]:
    """The photos of one section that get a thumbnail: the first `count`, in output order, each
    copy followed by its original."""
    for row in itertools.islice(_rows(config, status), count):
        yield ThumbnailRequest.of_row(row)
        if row.get("copy_of") in originals:
            yield originals[row["copy_of"]]


def _facts(config: ReportConfig, overview: _Overview) -> list[tuple[str, str]]:
    models = ", ".join(f"{name} ({count:,} rows)" for name, count in overview.models.most_common())
    facts = [
        ("output", config.results),
        ("photos", f"{overview.rows:,}"),
        ("model", models or "-"),
        ("scanned", f"{page.when(overview.first_scan)} to {page.when(overview.last_scan)}"),
        ("top-k", str(overview.k)),
    ]
    if config.throughput is not None:
        facts.append(("throughput", f"{config.throughput:,.1f} photos/s"))
    return facts


def _read_overview(config: ReportConfig) -> _Overview:
    try:
        return _overview(config)
    except FileNotFoundError:
        raise ReportError(f"no scan output at {config.results}") from None
    except (OSError, ValueError, KeyError) as exc:
        raise ReportError(f"cannot read {config.results} as a scan output: {exc}") from None


def _write_photo_section(
    html: TextIO,
    config: ReportConfig,
    overview: _Overview,
    status: str,
    wanted: int,
    sink: ImageSink,
    workers: int,
    progress: PhotoProgress,
    originals: dict[str, ThumbnailRequest],
) -> tuple[int, int]:
    """One status's cards, the first `wanted` with thumbnails as they arrive; returns (thumbnails
    made, photos unavailable)."""
    count = overview.counts[status]
    note = ""
    if wanted < count:
        note = (
            f"Thumbnails for the first {wanted:,} of {count:,} photos; the rest show a "
            "placeholder (raise --max-thumbnails, or use --assets-dir to give every photo one)."
        )
    html.write(page.section_start(status, count, note))
    requests = _requests(config, status, wanted, originals)
    thumbnails = iter_thumbnails(
        requests, config.thumbnail_size, workers, config.assets_dir, config.storage_options
    )
    made = unavailable = 0
    for index, row in enumerate(_rows(config, status)):
        src: str | None = None
        problem: str | None = "no thumbnail (limit reached)"
        if index < wanted:
            thumbnail = next(thumbnails)
            src = sink.source(thumbnail)
            problem = None if src else f"photo not available: {thumbnail.error}"
            made += src is not None
            unavailable += src is None
            progress.advance(1)
            if row.get("copy_of") in originals:
                row["original_src"] = sink.source(next(thumbnails))
        html.write(page.photo_card(row, index, overview.k, src, problem))
    html.write(page.section_end(status, count))
    return made, unavailable


def build_report(config: ReportConfig, progress: PhotoProgress | None = None) -> ReportSummary:
    """Write the HTML report of the scan output `config.results` to `config.out`."""
    progress = progress or NoProgress()
    output_format(config.results, config.results_format)  # a clear error for an unknown suffix
    if config.assets_dir and on_disk(config.assets_dir) is None:
        raise ReportError("--assets-dir must be a local folder")
    overview = _read_overview(config)
    limit = config.max_thumbnails
    if limit is None:
        limit = None if config.assets_dir else DEFAULT_EMBEDDED_THUMBNAILS
    workers = (os.cpu_count() or 1) if config.workers is None else config.workers
    sections = [s for s in PHOTO_SECTIONS if overview.counts.get(s)]
    with_thumbnail = {
        s: overview.counts[s] if limit is None else min(limit, overview.counts[s]) for s in sections
    }
    progress.start(sum(with_thumbnail.values()))

    sink = ImageSink(config.assets_dir, config.out)
    originals = original_requests(
        config.results, config.results_format, config.storage_options, overview.originals
    )
    made = unavailable = 0
    tmp = staging_file(config.out)
    try:
        with open(tmp, "w", encoding="utf-8") as html:
            title = config.title or f"landmark-tag report: {os.path.basename(config.results)}"
            html.write(page.page_start(title))
            counts = {s.value: overview.counts.get(s.value, 0) for s in Status}
            html.write(page.header(title, _facts(config, overview), counts))
            landmarks = sorted(overview.landmarks)
            html.write(page.controls(landmarks, [s for s in counts if counts[s]], overview.named_places))
            html.write(map_section(overview.located))
            if not overview.rows:
                html.write("<section><p>This output has no photos.</p></section>\n")
            for status in sections:
                section_made, section_unavailable = _write_photo_section(
                    html, config, overview, status, with_thumbnail[status], sink, workers, progress, originals
                )
                made, unavailable = made + section_made, unavailable + section_unavailable
            failed = overview.counts.get(Status.FAILED.value, 0)
            if failed:
                html.write(page.section_start(Status.FAILED.value, failed, table_head=page.FAILED_HEAD))
                for index, row in enumerate(_rows(config, Status.FAILED.value)):
                    html.write(page.failed_row(row, index))
                html.write(page.section_end(Status.FAILED.value, failed, table=True))
            if overview.landmarks:
                html.write(page.landmark_table({name: overview.landmarks[name] for name in landmarks}))
            html.write(page.page_end())
        publish(tmp, config.out, config.storage_options)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return ReportSummary(
        out=config.out,
        rows=overview.rows,
        counts=dict(overview.counts),
        thumbnails=made,
        unavailable=unavailable,
        assets_dir=config.assets_dir,
    )
