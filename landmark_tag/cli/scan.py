"""`landmark-tag scan`: parse options, run `pipeline.scan.scan`, print the summary."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from landmark_tag.cli.app import (
    EXIT_NO_PHOTOS,
    EXIT_PHOTOS_FAILED,
    app,
    check_device,
    check_engine,
    check_format,
    check_gpx_offset,
    fatal_errors,
    parse_storage_options,
    plain,
    precision_option,
    runtime_option,
    setup_logging,
    stderr_console,
    stdout_console,
    stop_cleanly_on_sigterm,
)
from landmark_tag.cli.progress import photo_progress
from landmark_tag.cli.report import print_report_summary, run_report
from landmark_tag.files.results import Status
from landmark_tag.locating.locate import SOURCES
from landmark_tag.pipeline.config import ScanConfig
from landmark_tag.report.build import ReportConfig

# The defaults live in ScanConfig, for Python callers and the command line alike.
DEFAULT = {field.name: field.default for field in fields(ScanConfig)}

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
    table.add_row("model", plain(summary.model))
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


def write_summary_json(summary: ScanSummary, path: str) -> None:
    data = {
        **asdict(summary),
        "photos_per_second": summary.photos_per_second,
        "tagging_photos_per_second": summary.tagging_photos_per_second,
        "finished_at": time.time(),
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


# Long by declaration only: one parameter per option (typer's way), each passed on to its
# ScanConfig field; what the command does is the last 30 lines.
@app.command("scan")
def scan_command(
    inputs: list[str] = typer.Argument(
        ...,
        help="Photo files or folders to scan (local, or fsspec URLs).",
        show_default=False,
        metavar="PATH",
    ),
    out: str = typer.Option("tags.parquet", "--out", "-o", help="Output file: .parquet or .csv."),
    k: int = typer.Option(DEFAULT["k"], "--k", "-k", min=1, help="How many landmarks to keep per photo."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Checkpoint to use. Default: the model `landmark-tag train` writes."
    ),
    output_format: str | None = typer.Option(
        None, "--format", help="parquet or csv. Default: from the --out suffix.", callback=check_format
    ),
    min_confidence: float | None = typer.Option(
        None,
        "--min-confidence",
        min=0.0,
        max=1.0,
        help="Photos whose top-1 probability is below this are marked uncertain and get no location. "
        "Default: the threshold stored in the model (0 accepts everything).",
    ),
    min_landmark_score: float | None = typer.Option(
        None,
        "--min-landmark-score",
        min=-1.0,
        max=1.0,
        help="Photos whose landmark score is below this show no landmark the model knows: they are "
        "marked no_landmark and get no location. Default: the threshold stored in the model.",
    ),
    gpx: list[str] = typer.Option(
        [],
        "--gpx",
        help="A GPS track (.gpx) or a folder of them, to locate photos by; repeat for more. Its clock "
        "is aligned with each camera's on that camera's photos with GPS.",
        show_default=False,
    ),
    gpx_offset: str | None = typer.Option(
        None,
        "--gpx-offset",
        help="Add this to every camera clock to get the tracks' time, instead of aligning them: "
        "+HH:MM[:SS] or seconds (as exiftool's -geosync).",
        callback=check_gpx_offset,
    ),
    write_xmp: bool = typer.Option(
        DEFAULT["write_xmp"],
        "--write-xmp",
        help="Write an XMP sidecar (IMG.jpg.xmp) with the landmark keyword and location beside each "
        "tagged photo. Photos are never modified; existing sidecars are merged.",
    ),
    include_gps: bool = typer.Option(
        DEFAULT["include_gps"],
        "--include-gps",
        help="Also tag photos whose EXIF GPS already says where they were taken.",
    ),
    recursive: bool = typer.Option(
        DEFAULT["recursive"], "--recursive/--no-recursive", help="Walk into sub-folders."
    ),
    include_hidden: bool = typer.Option(
        DEFAULT["include_hidden"], "--include-hidden", help="Scan files and folders named '.*'."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, help="Photos per model batch. Default: 8 on a CPU, 64 on a GPU."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="Decode processes. Default: one per CPU core (at most 8)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="Inference threads. Default: half the CPU cores on a CPU."
    ),
    device: str = typer.Option(
        DEFAULT["device"], "--device", help="auto, cpu or cuda.", callback=check_device
    ),
    gpu_decode: bool = typer.Option(
        DEFAULT["gpu_decode"],
        "--gpu-decode",
        help="Decode JPEGs of 1 MB and more on the GPU (nvJPEG) instead of on the CPU cores. Needs CUDA.",
    ),
    precision: str = precision_option(DEFAULT["precision"]),
    runtime: str = runtime_option(DEFAULT["runtime"]),
    max_pixels: int = typer.Option(
        DEFAULT["max_pixels"],
        "--max-pixels",
        min=1,
        help="A photo that would decode to more pixels fails (JPEGs count after their reduced-scale "
        "decode). Bounds each decode worker's memory.",
    ),
    engine: str = typer.Option(
        DEFAULT["engine"],
        "--engine",
        callback=check_engine,
        help="local: decode processes and the model on this machine. ray: the same scan on Ray Data, "
        "on a local Ray instance or a cluster (pip install 'landmark-tag[ray]').",
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="With --engine ray: the cluster to join ('auto', or ray://HOST:10001). Default: start a "
        "local Ray instance for this scan.",
    ),
    actors: int | None = typer.Option(
        None,
        "--actors",
        min=1,
        help="With --engine ray: model actors (one model each). Default: one per GPU, or one per node "
        "on a cluster without GPUs. --threads and --batch-size apply per actor.",
    ),
    commit_every: int = typer.Option(
        DEFAULT["commit_rows"],
        "--commit-every",
        min=1,
        help="Photos per crash-safe commit: a crash redoes at most this many; more means fewer part "
        "files (objects in a bucket) during the run. With --engine ray, the photos per Ray task.",
    ),
    full: bool = typer.Option(
        DEFAULT["full"], "--full", help="Ignore the existing output and tag every photo again."
    ),
    prune: bool = typer.Option(
        DEFAULT["prune"],
        "--prune",
        help="Drop rows of photos that are no longer in the tree. Refused when no photos are found, or "
        "when more than half of the rows would go, unless --force-prune.",
    ),
    force_prune: bool = typer.Option(
        DEFAULT["force_prune"],
        "--force-prune",
        help="With --prune: drop the rows even when the tree is empty or most of its photos are gone.",
    ),
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
    config = ScanConfig(
        inputs=inputs,
        out=out,
        model=model,
        k=k,
        batch_size=batch_size,
        workers=workers,
        threads=threads,
        device=device,
        gpu_decode=gpu_decode,
        precision=precision,
        runtime=runtime,
        commit_rows=commit_every,
        max_pixels=max_pixels,
        include_gps=include_gps,
        recursive=recursive,
        include_hidden=include_hidden,
        output_format=output_format,
        full=full,
        prune=prune,
        force_prune=force_prune,
        min_confidence=min_confidence,
        min_landmark_score=min_landmark_score,
        write_xmp=write_xmp,
        engine=engine,
        ray_address=ray_address,
        actors=actors,
        gpx=tuple(gpx),
        gpx_offset=gpx_offset,
    )
    with (
        fatal_errors(model_given=model is not None, output=out, verbose=verbose, commits_rows=True),
        stop_cleanly_on_sigterm(),
    ):
        config.storage_options = parse_storage_options(storage_option, endpoint_url)
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
                results_format=output_format,
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
