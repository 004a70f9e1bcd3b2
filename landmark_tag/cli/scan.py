"""`landmark-tag scan`: the options ScanConfig declares, run `pipeline.scan.scan`, print the summary."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from landmark_tag.cli.app import (
    EXIT_NO_PHOTOS,
    EXIT_PHOTOS_FAILED,
    app,
    fatal_errors,
    parse_storage_options,
    plain,
    setup_logging,
    stderr_console,
    stdout_console,
    stop_cleanly_on_sigterm,
)
from landmark_tag.cli.options import with_options
from landmark_tag.cli.progress import photo_progress
from landmark_tag.cli.report import print_report_summary, run_report
from landmark_tag.files.results import Status
from landmark_tag.locating.locate import SOURCES
from landmark_tag.pipeline.config import ScanConfig
from landmark_tag.report.build import ReportConfig

if TYPE_CHECKING:
    from landmark_tag.pipeline.scan import ScanSummary


def print_summary(summary: ScanSummary, console: Console) -> None:
    table = Table(title="scan summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("photos found", f"{summary.photos:,}")
    table.add_row("  new", f"{summary.new:,}")
    table.add_row("  changed", f"{summary.changed:,}")
    table.add_row("  retried (failed, or --include-gps)", f"{summary.retried:,}")
    table.add_row("  unchanged (kept)", f"{summary.unchanged:,}")
    table.add_row(
        "removed from tree", f"{summary.removed:,}" + (" (pruned)" if summary.pruned else " (kept)")
    )
    table.add_row("processed", f"{summary.processed:,}")
    for status in Status:
        table.add_row(f"  {status.value}", f"{summary.counts.get(status.value, 0):,}")
    if summary.min_confidence is None:
        table.add_row("landmarks", "off: no landmark model (`landmark-tag train` makes one)")
    else:
        table.add_row("confidence threshold", f"{summary.min_confidence:.3f}")
        score_threshold = summary.min_landmark_score
        table.add_row(
            "landmark score threshold",
            "none (model has no score)" if score_threshold is None else f"{score_threshold:.3f}",
        )
    if summary.rejudged:
        table.add_row("earlier rows re-judged", f"{summary.rejudged:,}")
    if summary.sidecars is not None:
        sidecars = summary.sidecars
        table.add_row("XMP sidecars written", f"{sidecars.written:,}")
        table.add_row("  already up to date", f"{sidecars.unchanged:,}")
        table.add_row("  failed", f"{sidecars.failed:,}")
    table.add_row("other files ignored", f"{summary.ignored_files:,}")
    table.add_row("rows in output", f"{summary.output_rows:,}")
    table.add_row("time", f"{summary.elapsed_seconds:,.1f} s")
    table.add_row("throughput", f"{summary.photos_per_second:,.1f} photos/s")
    if summary.processed:  # the same photos over the time spent on them, as the progress bar counts
        table.add_row("  while tagging", f"{summary.tagging_photos_per_second:,.1f} photos/s")
    if read := _bytes_read_line(summary.bytes_read):
        table.add_row("read from the photos", read)
    if summary.throttled:
        table.add_row("store asked to slow down", f"{summary.throttled:,} times (each retried after a pause)")
    located = sum(summary.locations.values())
    table.add_row("rows located", f"{located:,}")
    for source in SOURCES:
        if summary.locations.get(source) or (source == "track" and summary.gpx_given):
            table.add_row(f"  by {source}", f"{summary.locations.get(source, 0):,}")
    if summary.locations_withdrawn:
        table.add_row(
            "  withdrawn",
            f"{summary.locations_withdrawn:,} (earlier rows: their sources now disagree, or the photos"
            " that placed them are gone)",
        )
    for clock in summary.clocks:
        table.add_row("clock", plain(clock))
    table.add_row("device", summary.device)
    if summary.engine != "local":
        table.add_row("engine", f"{summary.engine} ({summary.ray_address or 'not started'})")
    table.add_row("model", plain(summary.model) or "none")
    table.add_row("output", plain(summary.output))
    console.print(table)
    for problem in summary.unreadable[:20]:
        console.print(f"[yellow]warning:[/] could not list {plain(problem)}", highlight=False)
    for problem in summary.sidecars.problems if summary.sidecars else []:
        console.print(f"[yellow]warning:[/] sidecar not written: {plain(problem)}", highlight=False)
    without_gps = summary.output_rows - summary.locations.get("gps", 0)
    if summary.gpx_given and without_gps and not summary.locations.get("track"):
        console.print(
            f"[yellow]warning:[/] none of the {without_gps:,} photos without GPS of their own was placed"
            " on the GPS tracks (--gpx): the clock lines say why; --gpx-offset sets the cameras' offset"
            " from the tracks by hand",
            highlight=False,
        )


def _bytes_read_line(reads: dict[str, int]) -> str:
    """ "1.2 GB: 48.0 KB a photo with GPS (120), 3.5 MB a photo without GPS (340)"."""
    total = reads.get("located_bytes", 0) + reads.get("other_bytes", 0)
    if not total:
        return ""
    parts = []
    for kind, what in (("located", "with GPS"), ("other", "without GPS")):
        if photos := reads.get(f"{kind}_photos", 0):
            parts.append(f"{_size(reads[f'{kind}_bytes'] / photos)} a photo {what} ({photos:,})")
    return f"{_size(total)}: " + ", ".join(parts)


def _size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def write_summary_json(summary: ScanSummary, path: str) -> None:
    data = {
        **asdict(summary),
        "photos_per_second": summary.photos_per_second,
        "tagging_photos_per_second": summary.tagging_photos_per_second,
        "finished_at": time.time(),
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


@app.command("scan")
@with_options(ScanConfig)  # every option of ScanConfig, declared there
def scan_command(
    options: dict[str, Any],
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", help="S3-compatible endpoint for s3:// URLs (or set AWS_ENDPOINT_URL)."
    ),
    storage_option: list[str] = typer.Option(
        [], "--storage-option", help="KEY=VALUE passed to fsspec for URLs; repeatable."
    ),
    summary_json: str | None = typer.Option(
        None, "--summary-json", help="Also write the summary as JSON here."
    ),
    report: str | None = typer.Option(
        None, "--report", help="Then write an HTML report of the whole output here (see `report`)."
    ),
    log_file: str | None = typer.Option(None, "--log-file", help="Append log lines to this file too."),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 3 when any photo failed."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more detail."),
) -> None:
    """Tag every photo without GPS with its most likely landmarks; write one row per photo.

    An existing output is extended: photos already in it (same path, size and modification time)
    are not processed again.
    """
    from landmark_tag.pipeline.scan import scan  # loads torch: only when a scan runs

    setup_logging(verbose, log_file)
    console = stderr_console()
    progress = photo_progress(console, "scanning", "scan", "scanned")
    out, inputs = options["out"], options["inputs"]
    with (
        fatal_errors(
            model_given=options["model"] is not None, output=out, verbose=verbose, commits_rows=True
        ),
        stop_cleanly_on_sigterm(),
    ):
        config = ScanConfig(**options, storage_options=parse_storage_options(storage_option, endpoint_url))
        try:
            summary = scan(config, progress)
        finally:
            progress.stop()
        if summary_json:
            write_summary_json(summary, summary_json)
    print_summary(summary, stdout_console())
    if report:
        with fatal_errors(model_given=True):
            report_config = ReportConfig(
                results=out,
                out=report,
                results_format=config.output_format,
                storage_options=config.storage_options,
                throughput=summary.photos_per_second,
            )
            print_report_summary(run_report(report_config), stdout_console())
    logging.getLogger("scan").info(
        "done: %d photos, %d processed (%s), %d rows in %s",
        summary.photos,
        summary.processed,
        ", ".join(f"{k} {v}" for k, v in summary.counts.items()),
        summary.output_rows,
        summary.output,
    )
    if summary.photos == 0:
        ignored = f" ({summary.ignored_files:,} other files ignored)" if summary.ignored_files else ""
        console.print(
            f"[yellow]warning:[/] no photos found in {', '.join(inputs)}{ignored}; photos are "
            "matched by extension (see `landmark-tag scan --help`)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_NO_PHOTOS)
    if strict and summary.counts.get(Status.FAILED.value, 0):
        raise typer.Exit(EXIT_PHOTOS_FAILED)
