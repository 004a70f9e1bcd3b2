"""`landmark-tag scan`: parse options, run `pipeline.scan.scan`, print the summary."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table

from landmark_tag.cli.app import EXIT_PHOTOS_FAILED, app, fatal_errors, setup_logging, stderr_console
from landmark_tag.cli.progress import LogScanProgress, RichScanProgress
from landmark_tag.pipeline.records import Status
from landmark_tag.pipeline.scan import ScanConfig, ScanSummary, scan


def print_summary(summary: ScanSummary, console: Console) -> None:
    table = Table(title="scan summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for status in Status:
        table.add_row(status.value, f"{summary.counts.get(status.value, 0):,}")
    table.add_row("photos", f"{summary.photos:,}")
    table.add_row("other files ignored", f"{summary.ignored_files:,}")
    table.add_row("time", f"{summary.elapsed_seconds:,.1f} s")
    table.add_row("throughput", f"{summary.photos_per_second:,.1f} photos/s")
    table.add_row("device", summary.device)
    table.add_row("model", summary.model)
    table.add_row("output", summary.output)
    console.print(table)
    for problem in summary.unreadable[:20]:
        console.print(f"[yellow]warning:[/] could not list {problem}", highlight=False)


@app.command("scan")
def scan_command(
    inputs: list[str] = typer.Argument(..., help="Photo files or folders to scan.", show_default=False),
    out: str = typer.Option("tags.parquet", "--out", "-o", help="Output file: .parquet or .csv."),
    k: int = typer.Option(3, "--k", "-k", min=1, help="How many landmarks to keep per photo."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Checkpoint to use. Default: the model `landmark-tag train` writes."
    ),
    output_format: str | None = typer.Option(
        None, "--format", help="parquet or csv. Default: from the --out suffix."
    ),
    include_gps: bool = typer.Option(
        False, "--include-gps", help="Also tag photos whose EXIF GPS already says where they were taken."
    ),
    recursive: bool = typer.Option(True, "--recursive/--no-recursive", help="Walk into sub-folders."),
    include_hidden: bool = typer.Option(False, "--include-hidden", help="Scan files and folders named '.*'."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Photos per model batch."),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="Decode processes. Default: one per CPU core (at most 8)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 3 when any photo failed."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more detail."),
) -> None:
    """Tag every photo without GPS with its most likely landmarks; write one row per photo."""
    setup_logging(verbose)
    console = stderr_console()
    progress = (
        RichScanProgress(console) if console.is_terminal else LogScanProgress(logging.getLogger("scan"))
    )
    config = ScanConfig(
        inputs=inputs,
        out=out,
        model=model,
        k=k,
        batch_size=batch_size,
        workers=workers,
        device=device,
        include_gps=include_gps,
        recursive=recursive,
        include_hidden=include_hidden,
        output_format=output_format,
    )
    with fatal_errors(model_given=model is not None):
        try:
            summary = scan(config, progress)
        finally:
            progress.stop()
    print_summary(summary, Console())
    if strict and summary.counts.get(Status.FAILED.value, 0):
        raise typer.Exit(EXIT_PHOTOS_FAILED)
