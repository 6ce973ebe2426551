"""Reading vendor values: times in every shape ATSs send them, ids, e-mails, US states."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: ", NY 10280" or ", NY" at the end of a one-line US address.
_STATE = re.compile(r",\s*([A-Z]{2})(?:\s+\d{5}(?:-\d{4})?)?\s*$")


def moment(value: Any) -> float | None:
    """Seconds since the epoch of an ATS time: ISO 8601 (no offset is UTC), a date
    (``2015-01-23``, US ``04/15/2013``), or epoch milliseconds (Bullhorn). None when
    absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0 if abs(value) > 1e11 else float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return moment(int(text))
    for layout in ("%m/%d/%Y", "%m-%d-%Y"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def ident(value: Any) -> str | None:
    """An id as text (vendors send numbers); None for nothing."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text[:300] or None


def email(value: Any) -> str | None:
    """A plausible e-mail address, lower-cased; None otherwise."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if len(text) <= 320 and _EMAIL.match(text) else None


def us_state(address: Any) -> str | None:
    """The state code at the end of a one-line US address (``…New York, NY 10280``);
    the street and the ZIP code are not kept."""
    if not isinstance(address, str):
        return None
    found = _STATE.search(address.strip())
    return found.group(1) if found else None


def text(value: Any, limit: int = 300) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    out = str(value).strip()
    return out[:limit] or None
