"""Durations (``90d``) and percentages (``25%``) as written in model files."""

from __future__ import annotations

import re

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")

DAY = 86400.0


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number followed by s, m, h, d or w (``90d``, ``12h``)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit, e.g. 90d or 12h")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


def parse_percent(text: str) -> float:
    """The fraction in ``text`` (``25%`` is 0.25), strictly between 0% and 100%."""
    match = _PERCENT.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a percentage; write e.g. 25%")
    fraction = float(match.group(1)) / 100.0
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"{text!r} must be between 0% and 100%, exclusive")
    return fraction


def format_duration(seconds: float) -> str:
    """The shortest exact rendering of ``seconds`` in the largest whole unit."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"
