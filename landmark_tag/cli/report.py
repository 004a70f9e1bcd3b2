"""`landmark-tag report`: parse options, run `report.build.build_report`, print where it went."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from landmark_tag.cli.app import (
    app,
    check_format,
    fatal_errors,
    parse_storage_options,
    setup_logging,
    stderr_console,
)
from landmark_tag.cli.progress import photo_progress
from landmark_tag.report.build import ReportConfig, ReportSummary, build_report


def run_report(config: ReportConfig) -> ReportSummary:
    """Build a report with a progress bar on a terminal (log lines elsewhere)."""
    progress = photo_progress(stderr_console(), "thumbnails", "report", "thumbnails made")
    try:
        return build_report(config, progress)
    finally:
        progress.stop()


def print_report_summary(summary: ReportSummary, console: Console) -> None:
    where = f", thumbnails in {summary.assets_dir}" if summary.assets_dir else ""
    missing = (
        f"; {summary.unavailable:,} photos could not be read (placeholders)" if summary.unavailable else ""
    )
    console.print(
        f"report: {summary.out} ({summary.rows:,} rows, {summary.thumbnails:,} thumbnails{where}){missing}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("report")
def report_command(
    results: str = typer.Argument(
        ..., help="A scan output: .parquet or .csv.", show_default=False, metavar="TAGS"
    ),
    out: str = typer.Option("report.html", "--out", "-o", help="The HTML file to write."),
    assets_dir: str | None = typer.Option(
        None,
        "--assets-dir",
        help="Write thumbnails to this folder instead of embedding them (then every photo gets one).",
    ),
    max_thumbnails: int | None = typer.Option(
        None,
        "--max-thumbnails",
        min=0,
        help="Thumbnails per section. Default: 500 embedded, all with --assets-dir.",
    ),
    thumbnail_size: int = typer.Option(
        240, "--thumbnail-size", min=32, max=1024, help="Longest side, pixels."
    ),
    summary_json: str | None = typer.Option(
        None, "--summary-json", help="A scan's --summary-json, for its throughput in the header."
    ),
    results_format: str | None = typer.Option(
        None, "--format", help="parquet or csv. Default: from the suffix.", callback=check_format
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="Thumbnail processes. Default: one per core."
    ),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", help="S3-compatible endpoint for s3:// URLs."
    ),
    storage_option: list[str] = typer.Option(
        [], "--storage-option", help="KEY=VALUE for fsspec; repeatable."
    ),
) -> None:
    """Write a self-contained HTML report of a scan: thumbnails with their landmarks, and every problem."""
    setup_logging(False)
    with fatal_errors(model_given=True):
        throughput = None
        if summary_json:
            with open(summary_json, encoding="utf-8") as handle:
                throughput = json.load(handle).get("photos_per_second")
        config = ReportConfig(
            results=results,
            out=out,
            assets_dir=assets_dir,
            max_thumbnails=max_thumbnails,
            thumbnail_size=thumbnail_size,
            workers=workers,
            results_format=results_format,
            storage_options=parse_storage_options(storage_option, endpoint_url),
            throughput=throughput,
        )
        summary = run_report(config)
    print_report_summary(summary, Console())
