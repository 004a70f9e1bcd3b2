"""`landmark-tag train scratch|transfer`, `landmark-tag evaluate` and `landmark-tag data download`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn

from landmark_tag.cli.app import (
    app,
    check_device,
    fatal_errors,
    precision_option,
    runtime_option,
    setup_logging,
    stderr_console,
)
from landmark_tag.cli.metrics import int8_line, landmark_score_line, print_evaluation, print_open_set
from landmark_tag.cli.options import with_options
from landmark_tag.files.paths import default_data_dir, default_model_path
from landmark_tag.model.gazetteer import display_name
from landmark_tag.training.config import TrainConfig
from landmark_tag.training.download import DEFAULT_URL, download_dataset

if TYPE_CHECKING:
    from landmark_tag.training.loop import EpochMetrics

data_app = typer.Typer(help="Fetch the 50-class landmark dataset.", no_args_is_help=True)
app.add_typer(data_app, name="data")

logger = logging.getLogger("train")


class ConsoleTrainReporter:
    """A progress bar per epoch on a terminal; one log line per epoch everywhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = (
            Progress(
                *Progress.get_default_columns()[:-1], MofNCompleteColumn(), console=console, transient=True
            )
            if console.is_terminal
            else None
        )
        self.task: TaskID | None = None

    def task_started(self, description: str, total: int) -> None:
        if self.progress is None:
            if not description.startswith("epoch"):  # epochs get their own line when they end
                logger.info("%s (%d batches)", description, total)
            return
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.progress.start()
        self.task = self.progress.add_task(description, total=total)

    def advance(self) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)

    def epoch_finished(self, m: EpochMetrics, improved: bool) -> None:
        line = (
            f"epoch {m.epoch:3d}  train loss {m.train_loss:.3f} top-1 {m.train_top1:6.1%}  "
            f"valid loss {m.valid_loss:.3f} top-1 {m.valid_top1:6.1%}  lr {m.lr:.1e}  {m.seconds:5.1f}s"
            + ("  best" if improved else "")
        )
        if self.progress is not None:
            self.progress.console.print(line, highlight=False)
        else:
            logger.info(line)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def download_progress(console: Console):
    progress = Progress(BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=console)
    task = progress.add_task("download", total=None)

    def report(done: int, total: int | None) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=total)

    return progress, report


def _run_training(options: dict) -> None:
    from landmark_tag.training.train import train  # loads torch: only when training runs

    setup_logging(False)
    console = stderr_console()
    reporter = ConsoleTrainReporter(console)
    progress, report = download_progress(console)
    with fatal_errors(model_given=True):
        try:
            result = train(TrainConfig(**options), reporter, report)
        finally:
            reporter.stop()
            progress.stop()
    out = Console()
    print_evaluation(result.valid, "validation (best epoch)", out, per_class=False)
    if result.test is not None:
        print_evaluation(result.test, "test", out)
    calibration = result.calibration
    out.print(
        f"default min confidence {calibration.min_confidence:.3f}: on validation photos it accepts "
        f"{calibration.coverage:.1%} of them, {calibration.precision:.1%} correctly "
        f"(target {calibration.target_precision:.0%})\n"
        f"{landmark_score_line(result.landmark_scorer.threshold, result.landmark_scorer.fit)}\n"
        f"{places_line(result.places, result.unplaced)}\n"
        f"{int8_line(result.int8, result.int8_skipped)}\n"
        f"best epoch {result.best_epoch} of {result.epochs_run}, {result.seconds:.0f}s\n"
        f"checkpoint: {result.checkpoint}\nmetrics:    {result.metrics_file}",
        highlight=False,
        soft_wrap=True,
    )


def places_line(placed: int, unplaced: list[str]) -> str:
    """How many classes have coordinates, and what to do about the others, which scans tag but never
    locate."""
    line = f"coordinates for {placed} of {placed + len(unplaced)} classes"
    if not unplaced:
        return line
    shown = ", ".join(display_name(name) for name in unplaced[:10]) + (" ..." if len(unplaced) > 10 else "")
    return (
        f"{line}; none for {shown}: photos of these are tagged but get no location. Give their "
        "coordinates with --gazetteer FILE (a CSV: class_name,name,latitude,longitude,country,wikidata; "
        "examples/wonders7-gazetteer.csv is one) and train again"
    )


@app.command("train")
@with_options(TrainConfig)  # every option of TrainConfig, declared there
def train_command(options: dict[str, Any]) -> None:
    """Train a landmark classifier and save it where `scan` finds it."""
    _run_training(options)


@app.command("evaluate")
def evaluate_command(
    model: str | None = typer.Option(
        None, "--model", "-m", help="Checkpoint to evaluate. Default: the model `landmark-tag train` writes."
    ),
    data: str = typer.Option(
        ..., "--data", help="ImageFolder of labelled photos (any subset of the classes)."
    ),
    split: str = typer.Option(
        "all", "--split", help="all, or valid/train: that part of the split the model was trained with."
    ),
    json_out: str | None = typer.Option(None, "--json", help="Also write the metrics as JSON here."),
    confusion_png: str | None = typer.Option(
        None, "--confusion-png", help="Also save a confusion matrix image here."
    ),
    negatives: list[str] | None = typer.Option(
        None,
        "--negatives",
        help="Folder of photos that show none of the model's landmarks (repeatable): also report false "
        "tags, precision, GAP and the landmark score's AUROC.",
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda.", callback=check_device),
    workers: int | None = typer.Option(None, "--workers", min=0, help="Data loading processes."),
    runtime: str = runtime_option(),
    precision: str = precision_option(),
) -> None:
    """Report loss, top-1/3/5 and per-class accuracy; save a confusion matrix."""
    from landmark_tag.training.evaluate import evaluate_checkpoint, save_confusion_png

    setup_logging(False)
    reporter = ConsoleTrainReporter(stderr_console())
    with fatal_errors(model_given=model is not None):
        try:
            result = evaluate_checkpoint(
                model or default_model_path(),
                data,
                split=split,
                device=device,
                batch_size=batch_size,
                workers=workers,
                negatives=negatives or None,
                reporter=reporter,
                runtime=runtime,
                precision=precision,
            )
        finally:
            reporter.stop()
        if confusion_png:
            save_confusion_png(result, confusion_png)
        if json_out:
            result.to_json(json_out)
    console = Console()
    print_evaluation(result, "evaluation", console)
    console.print(f"model ran on {result.runs_on}", highlight=False)
    if result.open_set is not None:
        print_open_set(result.open_set, console)
    for name, path in (("confusion matrix", confusion_png), ("metrics", json_out)):
        if path:
            console.print(f"{name}: {path}", highlight=False)


@data_app.command("download")
def download_command(
    dest: str | None = typer.Option(
        None, "--dest", help=f"Folder to extract into. Default: {default_data_dir()}"
    ),
    url: str = typer.Option(DEFAULT_URL, "--url", help="Zip archive to fetch."),
) -> None:
    """Download and extract the dataset (resumes a partial download; does nothing if already done)."""
    progress, report = download_progress(stderr_console())
    with fatal_errors(model_given=True):
        try:
            root = download_dataset(Path(dest) if dest else None, url, progress=report)
        finally:
            progress.stop()
    Console().print(f"dataset ready: {root}", highlight=False)
