"""Progress of long work (a scan, a report's thumbnails) for people (a rich bar with rate and ETA)
and for logs (a line every few seconds)."""

from __future__ import annotations

import logging
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Photos done over the time since the bar started, as the log lines and the summary count: a
    rate over the last few updates read 4,857 photos/s when a Ray scan's first shards all finished
    at once after its start-up."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        speed = task.completed / elapsed if elapsed and task.completed else None
        return Text(f"{speed:,.1f} photos/s" if speed else "- photos/s", style="progress.data.speed")


class RichScanProgress:
    """A live progress bar on a terminal."""

    def __init__(self, console: Console, label: str = "scanning") -> None:
        self._progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def start(self, total: int) -> None:
        self._task = self._progress.add_task("scan", total=total)
        self._progress.start()

    def advance(self, photos: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, photos)

    def stop(self) -> None:
        self._progress.stop()


class LogScanProgress:
    """Plain log lines, at most one every `interval` seconds, for cron and other non-terminals."""

    def __init__(self, logger: logging.Logger, done_label: str = "scanned", interval: float = 10.0) -> None:
        self._logger = logger
        self._label = done_label
        self._interval = interval
        self._total = 0
        self._done = 0
        self._started = self._last = time.monotonic()

    def start(self, total: int) -> None:
        self._total = total
        self._started = self._last = time.monotonic()
        self._logger.info("%s: %d photos to do", self._label, total)

    def advance(self, photos: int) -> None:
        self._done += photos
        now = time.monotonic()
        if now - self._last >= self._interval or self._done == self._total:
            self._last = now
            rate = self._done / max(now - self._started, 1e-9)
            eta = (self._total - self._done) / rate if rate > 0 else float("inf")
            self._logger.info(
                "%s %d/%d photos (%.1f photos/s, eta %s)",
                self._label,
                self._done,
                self._total,
                rate,
                time.strftime("%H:%M:%S", time.gmtime(eta)) if eta != float("inf") else "-",
            )

    def stop(self) -> None:
        pass


def photo_progress(console: Console, label: str, logger_name: str, done_label: str):
    """A progress bar on a terminal; log lines every few seconds elsewhere (cron, CI, pipes)."""
    if console.is_terminal:
        return RichScanProgress(console, label)
    return LogScanProgress(logging.getLogger(logger_name), done_label)
