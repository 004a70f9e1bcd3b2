"""An option, declared once: a config dataclass's field carries how the command line offers it
(flags, help, limits, choices), so that one declaration reaches the Python API's config, the
command line (cli/options.py builds the command's parameters from it) and the resolved settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any

SAME_AS_FIELD = object()


@dataclass(frozen=True)
class CommandLine:
    flags: tuple[str, ...]  # ("--out", "-o"); none: a positional argument
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[Any], object] | None = None  # raises ConfigError for a value that cannot work
    default: Any = SAME_AS_FIELD  # the command line's default, where it differs from the field's
    metavar: str | None = None


def option(
    default: Any = MISSING,
    *flags: str,
    help: str,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    check: Callable[[Any], object] | None = None,
    cli_default: Any = SAME_AS_FIELD,
    metavar: str | None = None,
) -> Any:
    """A dataclass field that the command line offers as `flags` (none: an argument). A list or
    tuple default is given to each config as its own copy."""
    metadata = {
        "command_line": CommandLine(flags, help, minimum, maximum, choices, check, cli_default, metavar)
    }
    if isinstance(default, list | tuple | dict):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def command_line_of(config_field: dataclasses.Field) -> CommandLine | None:
    """How the command line offers this field, or None where it does not (the Python API only)."""
    return config_field.metadata.get("command_line")
