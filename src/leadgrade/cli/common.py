"""What every command shares: the error exit, the output format option, time parsing."""

from __future__ import annotations

import enum
import sys
from datetime import UTC, datetime
from typing import Annotated, NoReturn

import typer
from rich.console import Console

#: Exit code for bad input (a bad file, row, option value or model), as with usage errors.
BAD_INPUT = 2


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """One line on stderr and exit 2: the CLI's answer to bad input."""
    stderr().print(f"[bold red]leadgrade:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(BAD_INPUT)


class Format(enum.StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"


FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format", "-f", help="Output format (default: from -o's extension, else table)."
    ),
]


def parse_as_of(text: str | None) -> float:
    """Epoch seconds of an ISO 8601 time (UTC when no offset is given); now when None."""
    if text is None:
        return datetime.now(UTC).timestamp()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--as-of {text!r} is not an ISO 8601 time, e.g. 2026-10-01T00:00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def is_terminal() -> bool:
    return sys.stderr.isatty()
