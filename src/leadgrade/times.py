"""Times at the edges: leadgrade computes in seconds since the epoch (UTC) and stores
timezone-aware datetimes; SQLite hands them back naive, and they are UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(seconds: float) -> datetime:
    """The aware UTC datetime of ``seconds`` since the epoch."""
    return datetime.fromtimestamp(seconds, UTC)


def epoch(moment: datetime) -> float:
    """Seconds since the epoch of ``moment``; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
