"""The typer application and what every command shares: error reporting and exit codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from landmark_tag.errors import LandmarkTagError, ModelNotFoundError
from landmark_tag.paths import default_model_path

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_FATAL = 1  # the run itself failed: no model, a missing input, an unwritable output, ...
EXIT_USAGE = 2  # bad command-line arguments (typer/click's own code)
EXIT_PHOTOS_FAILED = 3  # only with --strict: the scan completed but some photos failed
EXIT_INTERRUPTED = 130  # Ctrl-C; the previous output is left untouched

app = typer.Typer(
    name="landmark-tag",
    help="Find where photos without GPS were taken by recognising the landmark in them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
    # exifread logs every odd tag it meets; a broken EXIF block is not news during a scan.
    logging.getLogger("exifread").setLevel(logging.ERROR)


def parse_storage_options(pairs: list[str], endpoint_url: str | None) -> dict | None:
    """`--storage-option key=value` pairs (values parsed as JSON where they can be) for fsspec."""
    options: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--storage-option takes KEY=VALUE, not {pair!r}")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    if endpoint_url:
        options.setdefault("client_kwargs", {})["endpoint_url"] = endpoint_url
    return options or None


def fail(message: str, code: int = EXIT_FATAL) -> typer.Exit:
    stderr_console().print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def fatal_errors(model_given: bool) -> Iterator[None]:
    """Turn the library's expected errors into one readable line and an exit code, never a traceback."""
    try:
        yield
    except ModelNotFoundError as exc:
        hint = (
            ""
            if model_given
            else f"\nNo --model was given, and there is no model at the default location "
            f"({default_model_path()}).\nCreate one with `landmark-tag train transfer --data DIR`, "
            "or pass --model PATH."
        )
        raise fail(f"{exc}{hint}") from None
    except (LandmarkTagError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
    except KeyboardInterrupt:
        stderr_console().print("[yellow]interrupted[/]; any previous output was left as it was")
        raise typer.Exit(EXIT_INTERRUPTED) from None
