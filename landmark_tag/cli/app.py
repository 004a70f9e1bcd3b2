"""The typer application and what every command shares: error reporting and exit codes."""

from __future__ import annotations

import json
import logging
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from landmark_tag.errors import ConfigError, LandmarkTagError, ModelNotFoundError, message_of
from landmark_tag.files.paths import default_model_path
from landmark_tag.files.results import FORMATS
from landmark_tag.files.storage import unreachable_storage
from landmark_tag.host.names import PRECISION_HELP, PRECISIONS, RUNTIME_HELP, RUNTIMES, check_device_name

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_FATAL = 1  # the run itself failed: no model, a missing input, an unwritable output, ...
EXIT_USAGE = 2  # bad command-line arguments (typer/click's own code)
EXIT_PHOTOS_FAILED = 3  # only with --strict: the scan completed but some photos failed
EXIT_NO_PHOTOS = 4  # the scan completed, but found no photos in its inputs
EXIT_INTERRUPTED = 130  # Ctrl-C; the previous output is left untouched
EXIT_TERMINATED = 143  # SIGTERM (systemd, Kubernetes, a cron wrapper's timeout), handled like Ctrl-C


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so that the same
    clean-up runs: committed rows are kept, the lock released, the previous output untouched."""


@contextmanager
def stop_cleanly_on_sigterm() -> Iterator[None]:
    def raise_terminated(signum, frame):
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread: leave signals to whoever owns it
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


app = typer.Typer(
    name="landmark-tag",
    help="Find where photos without GPS were taken: from GPS tracks, photos taken close in time, and the "
    "landmarks in them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: flags without a `<bool>` beside them, as a typer/click CLI reads.
    rich_markup_mode=None,
)


# Values checked while parsing, so a typo exits with the usage code (2) before anything runs.
def one_of(*choices: str):
    """A typer callback that accepts only `choices` (or no value, for optional options)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


check_format = one_of(*FORMATS)
check_precision = one_of(*PRECISIONS)
check_runtime = one_of(*RUNTIMES)


def runtime_option(default: Any = "auto") -> Any:
    return typer.Option(default, "--runtime", callback=check_runtime, help=RUNTIME_HELP)


def precision_option(default: Any = "auto") -> Any:
    return typer.Option(default, "--precision", callback=check_precision, help=PRECISION_HELP)


def check_device(value: str) -> str:
    """--device: auto, cpu, cuda or cuda:N."""
    try:
        check_device_name(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc).replace(" (--device)", "")) from None
    return value


# C0 and C1 control characters: what photos and files say (a camera's Model, a path) is printed as
# text, never as terminal escapes (clearing the screen, setting the window's title) or rich markup.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: object) -> str:
    """`text` safe to print in a rich console: control characters shown as `?`, markup escaped."""
    return escape(_CONTROL.sub("?", str(text)))


def stdout_console() -> Console:
    """The console summaries print to; wide when it is not a terminal (a log, a pipe), where rich
    would otherwise wrap every long line at 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=1000)


def _print_version(value: bool) -> None:
    if value:
        from landmark_tag import __version__

        typer.echo(f"landmark-tag {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Find where photos without GPS were taken: from GPS tracks, photos taken close in time, and the
    landmarks in them."""


def stderr_console() -> Console:
    return Console(stderr=True)


def setup_logging(verbose: bool, log_file: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        handlers=handlers,
        force=True,
    )


def parse_storage_options(pairs: list[str], endpoint_url: str | None) -> dict | None:
    """`--storage-option key=value` pairs (values parsed as JSON where they can be) for fsspec."""
    options: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--storage-option takes KEY=VALUE, not {pair!r}")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    if endpoint_url:
        options.setdefault("client_kwargs", {})["endpoint_url"] = endpoint_url
    return options or None


def fail(message: str, code: int = EXIT_FATAL) -> typer.Exit:
    # soft_wrap: one line, however narrow the terminal, so a log or a cron mail keeps it whole.
    # escape: a message may hold brackets (a path, `pip install 'landmark-tag[ray]'`), not markup.
    stderr_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def describe_os_failure(exc: OSError, output: str | None = None) -> str:
    """`No space left on device: /data/tags.parquet`, not `[Errno 28] ...`; a failure that names no
    file (a full disk during a write) is tied to the output being written."""
    if exc.errno is None:  # raised with a message of ours
        return str(exc)
    files = [str(f) for f in (exc.filename, exc.filename2) if f]
    if files:
        return f"{exc.strerror}: {' -> '.join(files)}"
    return f"{exc.strerror} (while writing {output})" if output else str(exc.strerror or exc)


@contextmanager
def fatal_errors(
    model_given: bool, output: str | None = None, verbose: bool = False, commits_rows: bool = False
) -> Iterator[None]:
    """Turn the library's expected errors into one readable line and an exit code, never a traceback
    (with `verbose`, the traceback too). Anything else is a bug and surfaces as one, traceback and
    all. `output`: what the command writes, named when a failure names no file. `commits_rows`: the
    command (a scan) commits rows as it goes, which an interruption keeps."""
    kept = "the rows made so far are committed for the next run, and " if commits_rows else ""
    try:
        try:
            yield
        except (LandmarkTagError, OSError):
            if verbose:
                stderr_console().print_exception()
            raise
    except ModelNotFoundError as exc:
        hint = (
            ""
            if model_given
            else f"\nNo --model was given, and there is no model at the default location "
            f"({default_model_path()}).\nCreate one with `landmark-tag train transfer --data DIR`, "
            "or pass --model PATH."
        )
        raise fail(f"{exc}{hint}") from None
    except LandmarkTagError as exc:
        raise fail(message_of(exc)) from None
    except OSError as exc:
        raise fail(unreachable_storage(exc) or describe_os_failure(exc, output)) from None
    except Exception as exc:
        reason = unreachable_storage(exc)
        if reason is None:
            raise  # a bug: its traceback is what a report needs
        raise fail(reason) from None
    except Terminated:
        stderr_console().print(
            f"[yellow]terminated[/] (SIGTERM); {kept}any previous output was left as it was", soft_wrap=True
        )
        raise typer.Exit(EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        stderr_console().print(
            f"[yellow]interrupted[/]; {kept}any previous output was left as it was", soft_wrap=True
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
