"""A command's parameters made from a config dataclass's declared options (`options.option`): each
field the command line offers becomes one typer parameter, with its flags, help, limits and checks;
the command itself declares only what is the command line's own (logging, exit codes, reports)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import typing
from collections.abc import Callable
from typing import Any

import typer

from landmark_tag.cli.app import one_of
from landmark_tag.errors import ConfigError
from landmark_tag.options import SAME_AS_FIELD, CommandLine, command_line_of


def with_options(config_type: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command whose first parameter is `options`: the command line gets one parameter
    per option `config_type` declares, ahead of the command's own, and the command receives the
    options given as a dict of keyword arguments for `config_type`."""
    hints = typing.get_type_hints(config_type)
    declared = [f for f in dataclasses.fields(config_type) if command_line_of(f) is not None]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in list(inspect.signature(command, eval_str=True).parameters.values())[1:]
        ]
        offered = [_parameter(f, hints[f.name]) for f in declared]

        def run(**values: Any) -> Any:
            options = {f.name: _as_field(hints[f.name], values.pop(f.name)) for f in declared}
            return command(options, **values)

        run.__signature__ = inspect.Signature(offered + own)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in offered + own}
        run.__name__, run.__doc__, run.__module__ = command.__name__, command.__doc__, command.__module__
        return run

    return decorate


def _parameter(config_field: dataclasses.Field, hint: Any) -> inspect.Parameter:
    spec = command_line_of(config_field)
    assert spec is not None
    if spec.default is not SAME_AS_FIELD:
        default = spec.default
    elif config_field.default_factory is not dataclasses.MISSING:
        default = list(config_field.default_factory())
    else:
        default = config_field.default
    name = config_field.name
    annotation: Any = list[str] if typing.get_origin(hint) in (list, tuple) else hint
    if not spec.flags and spec.choices:  # shown in its help, as typer shows an Enum's (`<a|b>`)
        make_enum: Any = enum.Enum  # a class named at run time: mypy wants a literal name
        annotation = make_enum(name.title(), [(choice, choice) for choice in spec.choices], type=str)
        info = typer.Argument(..., help=spec.help, show_default=False, metavar=spec.metavar)
    elif not spec.flags:
        info = typer.Argument(
            ..., help=spec.help, show_default=False, metavar=spec.metavar, callback=_callback(name, spec)
        )
    else:
        info = typer.Option(
            default,
            *spec.flags,
            help=spec.help,
            min=spec.minimum,
            max=spec.maximum,
            callback=_callback(name, spec),
            show_default=default not in (None, []),
        )
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def _callback(name: str, spec: CommandLine) -> Callable[[Any], Any] | None:
    """Values checked while parsing, so a typo exits with the usage code (2) before anything runs."""
    if spec.choices:
        return one_of(*spec.choices)
    if spec.check is None:
        return None
    check = spec.check

    def checked(value: Any) -> Any:
        if value is not None:
            try:
                check(value)
            except ConfigError as exc:  # the message names the flag: typer says which it is
                raise typer.BadParameter(_without_flag(str(exc), name, spec.flags)) from None
        return value

    return checked


def _without_flag(message: str, name: str, flags: tuple[str, ...]) -> str:
    """A check's message without its own flag, which typer's message names already."""
    for flag in flags:
        message = message.replace(f"{name} ({flag}) ", "").replace(f" ({flag})", "")
    return message


def _as_field(hint: Any, value: Any) -> Any:
    """The command line's value as the field's own type (a tuple field gets a tuple, a choice its text)."""
    if isinstance(value, enum.Enum):
        return value.value
    return tuple(value) if typing.get_origin(hint) is tuple and value is not None else value
