"""Business-hours calendars for SLA clocks (DESIGN §7): "first touch within 1 working hour"
means nothing until someone says whose hours, in which time zone, minus which holidays.

A :class:`CalendarSpec` is the team's calendar as written in YAML; a :class:`Calendar` built
from it answers the three questions an SLA clock asks, in unix seconds (UTC) like the rest of
leadgrade: when is a span of working time used up (:meth:`Calendar.add`), how much working
time lies between two instants (:meth:`Calendar.working_seconds`), and is the team at work
now (:meth:`Calendar.is_open`). Pure: no clock, no I/O, no database.

Working hours are wall-clock times in the calendar's zone, so a 09:00 opening stays 09:00
across daylight-saving changes. A wall time that happens twice (a fall-back hour) counts from
its first occurrence; one that never happens (a spring-forward gap) counts from the moment
the clock jumps past it, so a range that lies wholly inside a gap is empty that day.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = ["Calendar", "CalendarSpec", "NoWorkingTime"]

#: Day names as written in a spec, in ``date.weekday()`` order.
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_MINUTES_PER_DAY = 24 * 60

# A calendar this long without a working minute is taken as having none: without a bound,
# `add` on a calendar whose holidays cover every working day would walk to the year 9999.
_MAX_IDLE_DAYS = 5 * 366

# datetime covers years 1-9999; a day of margin at each end keeps the local-time arithmetic
# (a range ending at 24:00 reads the next day) inside that range in every zone.
_FIRST_DAY = date.min + timedelta(days=2)
_LAST_DAY = date.max - timedelta(days=2)
_EARLIEST = datetime.combine(_FIRST_DAY, time(), UTC).timestamp()
_LATEST = datetime.combine(_LAST_DAY, time(), UTC).timestamp()

#: A stretch of working time, ``(opens, closes)`` in unix seconds; it includes its opening
#: instant and not its closing one.
Span = tuple[float, float]


class NoWorkingTime(ValueError):
    """The calendar has no working time left to count: the SLA clock would never run out."""


class CalendarSpec(BaseModel):
    """A team's working calendar, as written in YAML::

        timezone: America/New_York
        days: [mon, tue, wed, thu, fri]
        hours: ["09:00-12:00", "13:00-17:00"]   # or one range: "09:00-17:00"
        holidays: [2026-12-25, 2027-01-01]
        holidays_of: US                          # optional: a country's (or US-NY's) holidays

    Validated up front, so that a typo in a zone or a day name fails when the config loads,
    not when the first SLA is due; and a calendar with no working day is refused here, since
    no SLA measured against it could ever be breached.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str
    days: tuple[str, ...] = DAY_NAMES[:5]
    hours: tuple[str, ...] = ("09:00-17:00",)
    holidays: tuple[date, ...] = ()
    holidays_of: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        _zone(name)
        return name

    @field_validator("days", mode="before")
    @classmethod
    def _day_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f"days must be a list of day names, like [mon, tue], not {value!r}")
        return value

    @field_validator("days")
    @classmethod
    def _working_days(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        indices = [_day_index(name) for name in names]
        if not indices:
            raise ValueError("a calendar needs at least one working day")
        if len(set(indices)) != len(indices):
            raise ValueError(f"a day is listed twice in {list(names)}")
        return tuple(DAY_NAMES[index] for index in sorted(indices))

    @field_validator("hours", mode="before")
    @classmethod
    def _one_range(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("hours")
    @classmethod
    def _working_hours(cls, texts: tuple[str, ...]) -> tuple[str, ...]:
        ranges = sorted(_parse_range(text) for text in texts)
        if not ranges:
            raise ValueError("a calendar needs at least one range of working hours")
        for first, second in pairwise(ranges):
            if second[0] < first[1]:
                both = f"{_format_range(*first)} and {_format_range(*second)}"
                raise ValueError(f"working hours overlap: {both}")
        return tuple(_format_range(*pair) for pair in ranges)

    @field_validator("holidays")
    @classmethod
    def _holiday_dates(cls, days: tuple[date, ...]) -> tuple[date, ...]:
        return tuple(sorted(set(days)))

    @field_validator("holidays_of")
    @classmethod
    def _known_country(cls, code: str | None) -> str | None:
        if code is None:
            return None
        country, subdivision = _split_region(code)
        try:
            _public_holidays(country, subdivision, 2000)  # any year: this asks for the region
        except NotImplementedError as error:
            raise ValueError(f"no public holidays known for {code!r}: {error}") from None
        return f"{country}-{subdivision}" if subdivision else country


class Calendar:
    """When a team works, as instants: build one from a :class:`CalendarSpec`, or take
    :meth:`always` for SLAs that run around the clock.

    All three questions walk the calendar a day at a time, so a span of weeks costs a few
    dozen date computations, never a minute-by-minute loop.
    """

    def __init__(self, spec: CalendarSpec | None) -> None:
        """``spec=None`` is the 24/7 calendar; :meth:`always` says so by name."""
        self.spec = spec
        if spec is None:
            return
        self._zone = _zone(spec.timezone)
        self._weekdays = frozenset(DAY_NAMES.index(name) for name in spec.days)
        self._ranges = tuple(_parse_range(text) for text in spec.hours)
        self._holidays = frozenset(spec.holidays)
        self._region = _split_region(spec.holidays_of) if spec.holidays_of else None

    @classmethod
    def always(cls) -> Calendar:
        """A calendar that never closes: working time is plain elapsed time."""
        return cls(None)

    def __repr__(self) -> str:
        return "Calendar.always()" if self.spec is None else f"Calendar({self.spec!r})"

    def add(self, start: float, seconds: float) -> float:
        """The first instant by which ``seconds`` of working time have elapsed since
        ``start``: the due time of an SLA of ``seconds`` working seconds.

        A start outside working hours counts from the next opening; a result that uses up a
        day's last working second is that day's closing instant, not the next opening, so an
        SLA is due when the team goes home rather than when it comes back. Adding nothing
        returns ``start`` itself, open or not: nothing is left to wait for.
        """
        _check_instant(start)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"working time to add must be finite and not negative: {seconds}")
        if self.spec is None or seconds == 0:
            return start + seconds
        left = seconds
        for opens, closes in self._spans(start):
            begin = max(opens, start)
            if left <= closes - begin:
                return begin + left
            left -= closes - begin
        raise NoWorkingTime(f"the calendar has no working time after {_iso(start)}")

    def working_seconds(self, start: float, end: float) -> float:
        """The working time between ``start`` and ``end``: what an SLA clock started at
        ``start`` has used by ``end``. Zero when ``end`` is not after ``start``."""
        _check_instant(start)
        _check_instant(end)
        if end <= start:
            return 0.0
        if self.spec is None:
            return end - start
        return sum(
            min(closes, end) - max(opens, start) for opens, closes in self._spans(start, end)
        )

    def is_open(self, at: float) -> bool:
        """Whether ``at`` is working time (an opening instant is, a closing one is not)."""
        _check_instant(at)
        if self.spec is None:
            return True
        opens, _ = next(self._spans(at), (math.inf, math.inf))
        return opens <= at

    def _spans(self, after: float, before: float = math.inf) -> Iterator[Span]:
        """The working spans that close after ``after`` and open before ``before``, in order.

        The walk starts on ``after``'s local date: every span of an earlier day closes by
        that day's midnight, which ``after`` has reached. It stops on the first day whose
        midnight comes at or after ``before``, since every span of that day opens later.
        """
        day = _reading(after, self._zone).date()
        idle = 0
        while day < _LAST_DAY and (before == math.inf or self._midnight(day) < before):
            spans = self._day_spans(day)
            yield from ((o, c) for o, c in spans if c > after and o < before)
            idle = 0 if spans else idle + 1
            if idle > _MAX_IDLE_DAYS and before == math.inf:
                raise NoWorkingTime(
                    f"the calendar has no working time in the {_MAX_IDLE_DAYS} days "
                    f"up to {day.isoformat()}"
                )
            day += timedelta(days=1)

    def _day_spans(self, day: date) -> list[Span]:
        """The working spans of one local date, without the empty ones a DST gap makes."""
        if not self._works_on(day):
            return []
        spans = [
            (self._instant(day, start), self._instant(day, end)) for start, end in self._ranges
        ]
        return [(opens, closes) for opens, closes in spans if closes > opens]

    def _works_on(self, day: date) -> bool:
        if day.weekday() not in self._weekdays or day in self._holidays:
            return False
        return self._region is None or day not in _public_holidays(*self._region, day.year)

    def _midnight(self, day: date) -> float:
        return self._instant(day, 0)

    def _instant(self, day: date, minute: int) -> float:
        """The first instant the clocks in the calendar's zone reach ``minute`` past
        ``day``'s midnight (minute 1440 is the next midnight)."""
        wall = datetime.combine(day, time()) + timedelta(minutes=minute)
        return _earliest_instant(wall, self._zone)


def _earliest_instant(wall: datetime, zone: ZoneInfo) -> float:
    """The first instant whose local reading in ``zone`` is at or after the naive ``wall``.

    Taking the first such instant keeps the mapping from wall time to instants monotone,
    which is what keeps a day's spans ordered and disjoint: a repeated (fall-back) reading
    maps to its first occurrence, a skipped (spring-forward) one to the jump itself.
    """
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    if _reading(first, zone) == wall:
        return first
    # In a gap, fold=0 lands after the jump and fold=1 before it: bisect to the second.
    before, after = int(wall.replace(tzinfo=zone, fold=1).timestamp()), int(first)
    while after - before > 1:
        middle = (before + after) // 2
        if _reading(middle, zone) >= wall:
            after = middle
        else:
            before = middle
    return float(after)


def _reading(at: float, zone: ZoneInfo) -> datetime:
    """What the clocks in ``zone`` show at ``at``, as a naive datetime."""
    return datetime.fromtimestamp(at, zone).replace(tzinfo=None)


@lru_cache(maxsize=64)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """One year of a region's public holidays, kept because every day of a walk asks."""
    # Imported here: the holidays package takes a noticeable time to import, and only
    # calendars that name a country need it.
    from holidays import country_holidays

    return frozenset(country_holidays(country, subdiv=subdivision, years=year))


def _split_region(code: str) -> tuple[str, str | None]:
    """``US`` -> ``("US", None)``; ``US-NY`` -> ``("US", "NY")``."""
    country, _, subdivision = code.strip().upper().partition("-")
    return country.upper(), subdivision or None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'America/New_York' or 'UTC'"
        ) from None


def _day_index(name: str) -> int:
    key = name.strip().lower()
    for names in (DAY_NAMES, _FULL_DAY_NAMES):
        if key in names:
            return names.index(key)
    raise ValueError(f"unknown day {name!r}: use one of {', '.join(DAY_NAMES)}")


def _parse_range(text: str) -> tuple[int, int]:
    """``"09:00-17:00"`` -> ``(540, 1020)``, minutes past midnight; ``24:00`` may end one."""
    start, dash, end = text.partition("-")
    if not dash:
        raise ValueError(f"working hours {text!r} should look like '09:00-17:00'")
    opens, closes = _parse_clock(start), _parse_clock(end)
    if opens >= _MINUTES_PER_DAY or closes <= opens:
        raise ValueError(f"working hours {text!r} should start before they end")
    return opens, closes


def _parse_clock(text: str) -> int:
    match = _CLOCK.fullmatch(text.strip())
    hours, minutes = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= minutes < 60 and 0 <= hours * 60 + minutes <= _MINUTES_PER_DAY):
        raise ValueError(f"{text.strip()!r} is not a time of day like '09:00'")
    return hours * 60 + minutes


def _format_range(start: int, end: int) -> str:
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def _check_instant(at: float) -> None:
    if not _EARLIEST <= at <= _LATEST:
        raise ValueError(f"{at} is not an instant a calendar can place (unix seconds, UTC)")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()
