"""Business-hours calendars for SLA clocks: concrete due times a sales manager would check by
hand, then properties over generated calendars that tie add, working_seconds and is_open
together in every time zone, DST change and holiday the generator can think of."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from leadgrade.handoff import calendar as calendar_module
from leadgrade.handoff.calendar import Calendar, CalendarSpec, NoWorkingTime

HOUR = 3600.0
NEW_YORK = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """Unix seconds of a New York wall time (the first one, when the clocks repeat it)."""
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).timestamp()


def weekday_calendar(**overrides: Any) -> Calendar:
    spec: dict[str, Any] = {"timezone": "America/New_York", "hours": "09:00-17:00"} | overrides
    return Calendar(CalendarSpec(**spec))


# -- the spec ------------------------------------------------------------------------------


def test_a_spec_reads_from_yaml_and_defaults_to_weekdays_nine_to_five() -> None:
    text = """
    timezone: America/New_York
    days: [mon, tue, wed, thu, fri]
    hours: ["09:00-12:00", "13:00-17:00"]
    holidays: [2026-12-25, 2027-01-01]
    """
    spec = CalendarSpec.model_validate(yaml.safe_load(text))
    assert spec.hours == ("09:00-12:00", "13:00-17:00")
    assert spec.holidays == (date(2026, 12, 25), date(2027, 1, 1))
    assert CalendarSpec(timezone="UTC") == CalendarSpec(
        timezone="UTC", days=["mon", "tue", "wed", "thu", "fri"], hours="09:00-17:00"
    )


def test_a_spec_is_normalised_so_equal_calendars_compare_equal() -> None:
    spec = CalendarSpec(
        timezone="UTC",
        days=["Friday", "MON"],
        hours=["13:00-17:00", "9:00-12:00"],
        holidays=["2027-01-01", "2026-12-25", "2027-01-01"],
        holidays_of="us-ny",
    )
    assert spec.days == ("mon", "fri")
    assert spec.hours == ("09:00-12:00", "13:00-17:00")
    assert spec.holidays == (date(2026, 12, 25), date(2027, 1, 1))
    assert spec.holidays_of == "US-NY"
    assert CalendarSpec.model_validate(spec.model_dump()) == spec


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timezone": "America/Nwe_York"}, "unknown time zone 'America/Nwe_York'"),
        ({"timezone": "../etc/passwd"}, "unknown time zone '../etc/passwd'"),
        ({"timezone": ""}, "unknown time zone ''"),
        ({"days": []}, "at least one working day"),
        ({"days": ["mon", "munday"]}, "unknown day 'munday'"),
        ({"days": ["mon", "monday"]}, "listed twice"),
        ({"days": "mon"}, "a list of day names"),
        ({"hours": []}, "at least one range"),
        ({"hours": "17:00-09:00"}, "should start before they end"),
        ({"hours": "09:00-09:00"}, "should start before they end"),
        ({"hours": "24:00-24:00"}, "should start before they end"),
        ({"hours": "9-17"}, "'9' is not a time of day"),
        ({"hours": "09:00"}, "should look like '09:00-17:00'"),
        ({"hours": "09:60-17:00"}, "'09:60' is not a time of day"),
        ({"hours": "09:00-24:30"}, "'24:30' is not a time of day"),
        ({"hours": ["09:00-12:30", "12:00-17:00"]}, "overlap: 09:00-12:30 and 12:00-17:00"),
        ({"holidays": ["2026-02-30"]}, "holidays"),
        ({"holidays_of": "XX"}, "no public holidays known for 'XX'"),
        ({"holidays_of": "US-ZZ"}, "no public holidays known for 'US-ZZ'"),
        ({"weekends": True}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_spec_fails_with_a_message_that_names_the_problem(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        CalendarSpec(**({"timezone": "UTC"} | fields))


def test_a_spec_is_frozen() -> None:
    spec = CalendarSpec(timezone="UTC")
    with pytest.raises(ValidationError):
        spec.timezone = "Europe/Paris"


# -- concrete due times ----------------------------------------------------------------------


def test_friday_afternoon_plus_an_hour_is_monday_morning() -> None:
    assert weekday_calendar().add(ny(2026, 6, 5, 16, 30), HOUR) == ny(2026, 6, 8, 9, 30)


def test_a_start_at_three_on_a_sunday_counts_from_the_monday_opening() -> None:
    assert weekday_calendar().add(ny(2026, 6, 7, 3, 0), HOUR) == ny(2026, 6, 8, 10, 0)


def test_an_sla_that_ends_at_closing_time_is_due_at_closing_time() -> None:
    calendar = weekday_calendar()
    assert calendar.add(ny(2026, 6, 8, 16, 0), HOUR) == ny(2026, 6, 8, 17, 0)
    assert not calendar.is_open(ny(2026, 6, 8, 17, 0))
    assert calendar.is_open(ny(2026, 6, 8, 9, 0))


def test_adding_nothing_is_the_start_itself() -> None:
    sunday = ny(2026, 6, 7, 3, 0)
    assert weekday_calendar().add(sunday, 0) == sunday


def test_holidays_are_skipped_over_a_christmas_week() -> None:
    calendar = weekday_calendar(holidays=["2026-12-25", "2027-01-01"])
    # Thu 24th 16:00: 1h that day, Fri 25th closed, Mon 8h, Tue 8h, and 7h of Wednesday.
    assert calendar.add(ny(2026, 12, 24, 16, 0), 24 * HOUR) == ny(2026, 12, 30, 16, 0)
    assert calendar.add(ny(2026, 12, 31, 16, 30), HOUR) == ny(2027, 1, 4, 9, 30)
    assert calendar.working_seconds(ny(2026, 12, 24), ny(2027, 1, 5)) == 6 * 8 * HOUR


def test_a_long_span_walks_days_not_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    earliest_instant = calendar_module._earliest_instant

    def counted(*args: Any) -> float:
        nonlocal calls
        calls += 1
        return float(earliest_instant(*args))

    monkeypatch.setattr(calendar_module, "_earliest_instant", counted)
    calendar = weekday_calendar(holidays=["2026-12-25", "2027-01-01"])
    assert calendar.add(ny(2026, 12, 24, 16, 0), 24 * HOUR) == ny(2026, 12, 30, 16, 0)
    assert calls <= 2 * 7  # an opening and a closing for each working day walked


def test_the_march_dst_change_keeps_wall_clock_hours() -> None:
    calendar = weekday_calendar()
    # Clocks spring forward on Sunday 8 March 2026: Monday still opens at 09:00 local.
    assert calendar.add(ny(2026, 3, 6, 16, 30), HOUR) == ny(2026, 3, 9, 9, 30)
    assert calendar.working_seconds(ny(2026, 3, 6, 9), ny(2026, 3, 9, 17)) == 16 * HOUR


def test_the_november_dst_change_keeps_wall_clock_hours() -> None:
    calendar = weekday_calendar()
    # Clocks fall back on Sunday 1 November 2026.
    assert calendar.add(ny(2026, 10, 30, 16, 30), HOUR) == ny(2026, 11, 2, 9, 30)
    assert calendar.working_seconds(ny(2026, 10, 30, 9), ny(2026, 11, 2, 17)) == 16 * HOUR


def test_a_round_the_clock_day_is_as_long_as_the_clocks_make_it() -> None:
    sundays = weekday_calendar(days=["sun"], hours="00:00-24:00")
    assert sundays.working_seconds(ny(2026, 3, 8), ny(2026, 3, 9)) == 23 * HOUR
    assert sundays.working_seconds(ny(2026, 11, 1), ny(2026, 11, 2)) == 25 * HOUR
    assert sundays.add(ny(2026, 3, 7, 12), 23 * HOUR) == ny(2026, 3, 9)


def test_hours_in_a_dst_gap_open_when_the_clock_jumps_past_them() -> None:
    nights = weekday_calendar(days=["sun"], hours="01:00-03:00")
    # 02:00-03:00 never happens on 8 March: 01:00 to 03:00 is one hour that night.
    assert nights.working_seconds(ny(2026, 3, 8), ny(2026, 3, 9)) == HOUR
    in_the_gap = weekday_calendar(days=["sun"], hours="02:15-02:45")
    assert in_the_gap.working_seconds(ny(2026, 3, 8), ny(2026, 3, 9)) == 0
    assert in_the_gap.add(ny(2026, 3, 8), 60) == ny(2026, 3, 15, 2, 16)


def test_a_repeated_hour_counts_from_its_first_occurrence() -> None:
    nights = weekday_calendar(days=["sun"], hours="01:00-02:30")
    # 01:00 EDT to 02:30 EST on 1 November: the 01:00-02:00 hour happens twice.
    assert nights.working_seconds(ny(2026, 11, 1), ny(2026, 11, 2)) == 2.5 * HOUR
    assert nights.is_open(ny(2026, 11, 1, 1, 30) + HOUR)


def test_a_lunch_break_is_not_working_time() -> None:
    calendar = weekday_calendar(hours=["09:00-12:00", "13:00-17:00"])
    assert calendar.add(ny(2026, 6, 8, 11, 30), HOUR) == ny(2026, 6, 8, 13, 30)
    assert calendar.add(ny(2026, 6, 8, 12, 15), HOUR / 2) == ny(2026, 6, 8, 13, 30)
    assert calendar.add(ny(2026, 6, 8, 11, 0), HOUR) == ny(2026, 6, 8, 12, 0)
    assert not calendar.is_open(ny(2026, 6, 8, 12, 30))
    assert calendar.working_seconds(ny(2026, 6, 8), ny(2026, 6, 9)) == 7 * HOUR


def test_public_holidays_of_a_country_and_of_a_state() -> None:
    us = weekday_calendar(holidays_of="US")
    # Independence Day 2026 is a Saturday, observed on Friday 3 July.
    assert not us.is_open(ny(2026, 7, 3, 10))
    assert us.add(ny(2026, 7, 2, 16, 30), HOUR) == ny(2026, 7, 6, 9, 30)
    # Lincoln's Birthday (12 February) is a New York holiday, not a federal one.
    assert us.is_open(ny(2026, 2, 12, 10))
    assert not weekday_calendar(holidays_of="US-NY").is_open(ny(2026, 2, 12, 10))


def test_working_seconds_is_zero_when_the_end_is_not_after_the_start() -> None:
    calendar = weekday_calendar()
    assert calendar.working_seconds(ny(2026, 6, 8, 12), ny(2026, 6, 8, 10)) == 0
    assert Calendar.always().working_seconds(ny(2026, 6, 8, 12), ny(2026, 6, 8, 10)) == 0


@pytest.mark.parametrize(("start", "seconds"), [(0.0, -1.0), (0.0, math.nan), (0.0, math.inf)])
def test_add_refuses_what_it_cannot_count(start: float, seconds: float) -> None:
    with pytest.raises(ValueError, match="finite and not negative"):
        weekday_calendar().add(start, seconds)


@pytest.mark.parametrize("at", [math.nan, math.inf, -1e15, 1e15])
def test_an_instant_outside_the_calendar_is_refused(at: float) -> None:
    with pytest.raises(ValueError, match="not an instant"):
        weekday_calendar().is_open(at)


def test_a_calendar_whose_holidays_cover_every_working_day_ends_with_a_clear_error() -> None:
    first_monday = date(2026, 1, 5)
    mondays = [first_monday + timedelta(weeks=n) for n in range(6 * 53)]
    calendar = weekday_calendar(days=["mon"], holidays=mondays)
    with pytest.raises(NoWorkingTime, match="no working time"):
        calendar.add(ny(2026, 1, 1), HOUR)
    assert calendar.working_seconds(ny(2026, 1, 1), ny(2031, 1, 1)) == 0


def test_an_sla_that_would_run_past_the_year_9999_ends_with_a_clear_error() -> None:
    start = datetime(9999, 12, 1, tzinfo=UTC).timestamp()
    with pytest.raises(NoWorkingTime, match="no working time after 9999-12-01"):
        weekday_calendar().add(start, 1000 * HOUR)


def test_always_is_plain_elapsed_time() -> None:
    always = Calendar.always()
    start = ny(2026, 6, 7, 3, 0) + 0.1
    assert always.add(start, 1234.5) == start + 1234.5
    assert always.working_seconds(start, start + 99.9) == (start + 99.9) - start
    assert always.is_open(start)
    assert repr(always) == "Calendar.always()"


# -- properties --------------------------------------------------------------------------------

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # a half-hour DST shift
    "America/Santiago",  # DST changes at midnight
    "America/Havana",  # likewise, so a gap or a repeated hour starts a day
    "Asia/Kolkata",  # a half-hour offset, no DST
)
#: The 2026 DST changes of those zones, by the local date they happen on: generated instants
#: cluster around them, where wall-clock arithmetic goes wrong if it is going to.
DST_CHANGES = (
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Europe/London", date(2026, 3, 29)),
    ("Europe/London", date(2026, 10, 25)),
    ("Australia/Lord_Howe", date(2026, 4, 5)),
    ("Australia/Lord_Howe", date(2026, 10, 4)),
    ("America/Santiago", date(2026, 4, 4)),
    ("America/Santiago", date(2026, 9, 6)),
    ("America/Havana", date(2026, 3, 8)),
    ("America/Havana", date(2026, 11, 1)),
)
FIRST = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
LAST = datetime(2028, 1, 1, tzinfo=UTC).timestamp()
DAY = 86400


@st.composite
def hours(draw: st.DrawFn) -> list[str]:
    """One to three ranges on a 15-minute grid, any of them possibly ending at midnight or
    opening and closing in the small hours where DST changes happen."""
    count = draw(st.integers(1, 3))
    edge = st.integers(0, 96) | st.integers(0, 4 * 4)  # quarter hours, often before 04:00
    edges = sorted(draw(st.sets(edge, min_size=2 * count, max_size=2 * count)))
    clock = [f"{edge // 4:02d}:{edge % 4 * 15:02d}" for edge in edges]
    return [f"{start}-{end}" for start, end in zip(clock[::2], clock[1::2], strict=True)]


@st.composite
def calendars(
    draw: st.DrawFn, zones: tuple[str, ...] = ZONES, countries: tuple[str, ...] = ("US", "GB")
) -> Calendar:
    days = draw(st.sets(st.sampled_from(calendar_module.DAY_NAMES), min_size=1))
    holiday_dates = st.dates(date(2025, 1, 1), date(2027, 12, 31))
    spec = CalendarSpec(
        timezone=draw(st.sampled_from(zones)),
        days=sorted(days),
        hours=draw(hours()),
        holidays=draw(st.lists(holiday_dates, max_size=6)),
        holidays_of=draw(st.one_of(st.none(), st.sampled_from(countries))) if countries else None,
    )
    return Calendar(spec)


def quarters(low: float, high: float) -> st.SearchStrategy[float]:
    """Quarter seconds: binary fractions keep every sum and difference exact in floating
    point, so the properties can insist on equality, edge cases (an SLA that ends exactly at
    a closing time) included."""
    return st.integers(int(low * 4), int(high * 4)).map(lambda q: q / 4)


@st.composite
def calendars_and_starts(draw: st.DrawFn, countries: tuple[str, ...] = ("US", "GB")) -> Any:
    """A calendar and an instant, half the time within a day of one of its zone's DST
    changes."""
    if draw(st.booleans()):
        return draw(calendars(countries=countries)), draw(quarters(FIRST, LAST))
    zone, day = draw(st.sampled_from(DST_CHANGES))
    midnight = datetime.combine(day, time(), ZoneInfo(zone)).timestamp()
    calendar = draw(calendars(zones=(zone,), countries=countries))
    return calendar, draw(quarters(midnight - DAY, midnight + DAY))


durations = quarters(0, 40 * 8 * HOUR)
elapsed = quarters(0, 30 * DAY)


def test_the_dst_changes_the_properties_cluster_around_are_changes() -> None:
    for zone, day in DST_CHANGES:
        offsets = {
            datetime.combine(day + timedelta(days=n), time(12), ZoneInfo(zone)).utcoffset()
            for n in (-1, 1)
        }
        assert len(offsets) == 2, (zone, day)


@given(calendars_and_starts(), durations)
def test_working_seconds_measures_what_add_added(case: Any, s: float) -> None:
    cal, start = case
    assert cal.working_seconds(start, cal.add(start, s)) == s


@given(calendars(), st.floats(FIRST, LAST), st.floats(0, 40 * 8 * HOUR, allow_subnormal=False))
def test_working_seconds_measures_what_add_added_for_any_float(
    cal: Calendar, start: float, s: float
) -> None:
    assert math.isclose(cal.working_seconds(start, cal.add(start, s)), s, abs_tol=1e-6)


@given(calendars_and_starts(), durations, durations)
def test_add_is_monotone(case: Any, a: float, b: float) -> None:
    cal, start = case
    assert cal.add(start, min(a, b)) <= cal.add(start, max(a, b))


@given(calendars_and_starts(), durations.filter(bool))
def test_a_due_time_is_open_or_exactly_at_closing(case: Any, s: float) -> None:
    cal, start = case
    due = cal.add(start, s)
    assert due > start
    # Closed at `due` yet working all through the quarter second before it: a closing edge.
    assert cal.is_open(due) or cal.working_seconds(due - 0.25, due) == 0.25


@given(calendars_and_starts(), durations, durations)
def test_adding_in_two_steps_is_adding_once(case: Any, a: float, b: float) -> None:
    cal, start = case
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b)


@given(calendars_and_starts(), elapsed, elapsed)
def test_working_seconds_adds_up_and_never_exceeds_the_elapsed_time(
    case: Any, a: float, b: float
) -> None:
    cal, start = case
    middle, end = start + a, start + a + b
    total = cal.working_seconds(start, end)
    assert total == cal.working_seconds(start, middle) + cal.working_seconds(middle, end)
    assert 0 <= total <= end - start


@given(calendars_and_starts())
def test_is_open_agrees_with_working_seconds(case: Any) -> None:
    cal, at = case
    # Spans open and close on whole seconds, so the quarter second after an open instant is
    # all working time, and after a closed one is not.
    assert cal.is_open(at) == (cal.working_seconds(at, at + 0.25) == 0.25)


@given(calendars_and_starts(), durations)
def test_working_time_never_runs_faster_than_the_clock(case: Any, s: float) -> None:
    cal, start = case
    assert cal.add(start, s) >= Calendar.always().add(start, s)


def open_by_the_spec(spec: CalendarSpec, reading: datetime) -> bool:
    """Whether the spec calls a local wall-clock reading working time."""
    if calendar_module.DAY_NAMES[reading.weekday()] not in spec.days:
        return False
    if reading.date() in spec.holidays:
        return False
    minute = reading.hour * 60 + reading.minute
    return any(
        int(start[:2]) * 60 + int(start[3:]) <= minute < int(end[:2]) * 60 + int(end[3:])
        for start, _, end in (text.partition("-") for text in spec.hours)
    )


def open_minutes(spec: CalendarSpec, start: int, minutes: int) -> int:
    """The working minutes from ``start`` (unix seconds, on a whole minute), counted one by
    one. Working hours are reached, not merely shown: a minute is working time when the
    latest wall time the clocks have reached so far is, which is how a repeated hour counts
    once it has been reached and a skipped one never does. The walk starts a day early so
    that "so far" covers any repeated hour in progress."""
    zone = ZoneInfo(spec.timezone)
    reached = datetime.min
    count = 0
    for minute in range(-24 * 60, minutes):
        reached = max(
            reached, datetime.fromtimestamp(start + 60 * minute, zone).replace(tzinfo=None)
        )
        count += minute >= 0 and open_by_the_spec(spec, reached)
    return count


@given(calendars_and_starts(countries=()), st.integers(0, 3 * 24 * 60))
def test_minute_by_minute_agrees(case: Any, minutes: int) -> None:
    cal, at = case
    start = int(at) // 60 * 60
    expected = 60 * open_minutes(cal.spec, start, minutes)
    assert cal.working_seconds(start, start + 60 * minutes) == expected
