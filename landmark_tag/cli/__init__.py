"""Command line: thin typer commands that parse, call the library, and print."""

from landmark_tag.cli import predict, report, scan, training  # noqa: F401  (registers the commands)
from landmark_tag.cli.app import app


def main() -> None:
    app()
