"""Quiet hours: local time across zones and daylight-saving changes, Florida's window and
cap, the area code as a clue, and the strictest window when the zone is unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadgrade.privacy.consent import (
    ChannelStatus,
    ConsentRecord,
    ConsentState,
    Recipient,
    can_contact,
    consent_state,
)
from leadgrade.privacy.quiet import (
    US_ZONES,
    ContactRules,
    Window,
    locate,
    next_allowed,
    quiet_hours,
)
from leadgrade.settings import ComplianceSection

RULES = ContactRules()


def at(text: str) -> float:
    """Epoch seconds of an ISO time; a bare one is UTC."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()[:16]


def allowed(attributes: dict[str, object], when: str) -> bool:
    return quiet_hours(locate(attributes), RULES, at(when)).allowed


def next_at(attributes: dict[str, object], when: str) -> str | None:
    return iso(quiet_hours(locate(attributes), RULES, at(when)).next_allowed_at)


# ------------------------------------------------------------------------------- windows


def test_a_window_parses_and_says_what_is_wrong() -> None:
    assert Window.parse("08:00-21:00") == Window(480, 1260)
    assert Window.parse(" 8:30 – 20:00 ") == Window(510, 1200)
    assert str(Window.parse("08:00-24:00")) == "08:00–24:00"
    for bad, said in [
        ("8am-9pm", "not a window"),
        ("21:00-08:00", "end after it starts"),
        ("25:00-26:00", "hours are 00–23"),
        ("08:00-08:00", "end after it starts"),
    ]:
        with pytest.raises(ValueError, match=said):
            Window.parse(bad)


def test_the_window_includes_its_start_and_not_its_end() -> None:
    new_york = {"state": "NY"}
    assert not allowed(new_york, "2026-07-15T07:59:59-04:00")
    assert allowed(new_york, "2026-07-15T08:00:00-04:00")
    assert allowed(new_york, "2026-07-15T20:59:59-04:00")
    assert not allowed(new_york, "2026-07-15T21:00:00-04:00")
    assert next_at(new_york, "2026-07-15T21:00:00-04:00") == "2026-07-16T12:00"  # 08:00 EDT


# ---------------------------------------------------------------------------- time zones


def test_one_instant_is_allowed_in_new_york_and_not_yet_in_the_west() -> None:
    instant = "2026-07-15T13:30:00Z"  # 09:30 in New York
    assert allowed({"state": "NY"}, instant)
    assert allowed({"state": "IL"}, instant)  # 08:30 CDT
    assert not allowed({"state": "CO"}, instant)  # 07:30 MDT
    assert next_at({"state": "CO"}, instant) == "2026-07-15T14:00"
    assert not allowed({"state": "CA"}, instant)  # 06:30 PDT
    assert next_at({"state": "California"}, instant) == "2026-07-15T15:00"
    assert next_at({"state": "hi"}, instant) == "2026-07-15T18:00"  # Honolulu, UTC−10


def test_arizona_keeps_no_daylight_time_but_the_navajo_nation_does() -> None:
    # July: Phoenix is UTC−7 all year, the Navajo Nation (Denver's rules) UTC−6.
    summer = quiet_hours(locate({"state": "AZ"}), RULES, at("2026-07-15T14:30:00Z"))
    assert not summer.allowed  # 07:30 in Phoenix, 08:30 on the Navajo Nation
    assert iso(summer.next_allowed_at) == "2026-07-15T15:00"
    # January: both are UTC−7.
    assert allowed({"state": "AZ"}, "2026-01-15T15:00:00Z")
    assert allowed({"state": "CO"}, "2026-01-15T15:00:00Z")


def test_spring_forward_moves_the_window_an_hour_earlier_in_utc() -> None:
    new_york = {"state": "NY"}
    # Saturday 2026-03-07: EST, UTC−5: 08:00 is 13:00 UTC.
    assert not allowed(new_york, "2026-03-07T12:30:00Z")
    assert next_at(new_york, "2026-03-07T12:30:00Z") == "2026-03-07T13:00"
    # Sunday 2026-03-08, clocks go forward at 02:00: 08:00 EDT is 12:00 UTC.
    assert not allowed(new_york, "2026-03-08T11:59:00Z")
    assert next_at(new_york, "2026-03-08T11:59:00Z") == "2026-03-08T12:00"
    assert allowed(new_york, "2026-03-08T12:30:00Z")
    # The evening before the change ends at 21:00 EST (02:00 UTC).
    assert allowed(new_york, "2026-03-08T01:59:00Z")
    assert not allowed(new_york, "2026-03-08T02:00:00Z")
    assert next_at(new_york, "2026-03-08T02:00:00Z") == "2026-03-08T12:00"


def test_fall_back_moves_it_an_hour_later() -> None:
    new_york = {"state": "NY"}
    assert allowed(new_york, "2026-10-31T12:30:00Z")  # 08:30 EDT
    assert not allowed(new_york, "2026-11-01T12:30:00Z")  # 07:30 EST
    assert next_at(new_york, "2026-11-01T12:30:00Z") == "2026-11-01T13:00"
    assert allowed(new_york, "2026-11-02T01:59:00Z")  # 20:59 EST
    assert not allowed(new_york, "2026-11-02T02:00:00Z")


def test_zones_that_change_on_different_dates_are_both_honoured() -> None:
    """In the week the US has changed its clocks and Europe not yet, a window that must
    hold in New York and London narrows, and the next allowed instant follows."""
    rules = ContactRules()
    both = locate({"country": "GB"})
    assert both.zones == ("Europe/London",)
    # 2026-03-10: New York on EDT (UTC−4), London still GMT (UTC+0).
    new_york = ZoneInfo("America/New_York")
    london = ZoneInfo("Europe/London")
    zones = ("America/New_York", "Europe/London")
    start = at("2026-03-10T00:00:00Z")
    found = next_allowed(rules.window, zones, start)
    assert found is not None
    moment = datetime.fromtimestamp(found, UTC)
    assert moment.astimezone(new_york).hour == 8  # New York opens at 12:00 UTC …
    assert moment.astimezone(london).hour == 12  # … when London is still open till 21:00


@settings(max_examples=60)
@given(
    start=st.integers(min_value=int(at("2026-01-01")), max_value=int(at("2027-01-01"))),
    zones=st.lists(st.sampled_from((*US_ZONES, "Europe/London")), min_size=1, max_size=3),
)
def test_the_next_allowed_instant_is_allowed_and_none_comes_earlier(
    start: int, zones: list[str]
) -> None:
    window = Window.parse("08:00-20:00")
    key = tuple(sorted(set(zones)))
    found = next_allowed(window, key, float(start))

    def open_everywhere(seconds: float) -> bool:
        moment = datetime.fromtimestamp(seconds, UTC)
        return all(window.holds(moment.astimezone(ZoneInfo(z))) for z in key)

    if found is None:  # zones too far apart: no minute of two days is open in all of them
        assert not any(open_everywhere(start + minute * 60) for minute in range(2 * 24 * 60))
        return
    assert found >= start
    assert open_everywhere(found)
    step = float(start)
    while step + 60 < found:  # minute by minute, nothing earlier is open everywhere
        step += 60
        assert not open_everywhere(step)


# ------------------------------------------------------------------------------ Florida


def test_florida_ends_at_eight_in_both_of_its_zones() -> None:
    florida = {"state": "FL"}
    place = locate(florida)
    assert place.zones == ("America/Chicago", "America/New_York")
    # 20:30 in Miami (and 19:30 in Pensacola): too late in Florida, fine in New York.
    assert not allowed(florida, "2026-07-15T00:30:00Z")
    assert allowed({"state": "NY"}, "2026-07-15T00:30:00Z")
    # 08:30 in Miami is 07:30 in Pensacola: too early for the panhandle.
    assert not allowed(florida, "2026-07-15T12:30:00Z")
    assert next_at(florida, "2026-07-15T12:30:00Z") == "2026-07-15T13:00"
    # The last allowed minute is 20:00 Eastern less a minute.
    assert allowed(florida, "2026-07-14T23:59:00Z")


def test_a_florida_area_code_brings_floridas_rule_even_with_another_address() -> None:
    """Florida presumes a call to a Florida area code reaches a Florida resident."""
    texan = locate({"state": "TX", "mobile_phone": "+1 305 555 0100"})
    assert texan.states == ("TX", "FL")
    assert texan.zones == ("America/Chicago", "America/Denver")
    hours = quiet_hours(texan, RULES, at("2026-07-15T01:30:00Z"))  # 20:30 in Houston
    assert not hours.allowed
    assert hours.rule_of == "FL"
    assert quiet_hours(locate({"state": "TX"}), RULES, at("2026-07-15T01:30:00Z")).allowed


# -------------------------------------------------------------------- the phone as a clue


def test_without_an_address_the_area_code_places_the_person() -> None:
    miami = locate({"phone": "(305) 555-0100"})
    assert (miami.source, miami.states) == ("phone", ("FL",))
    assert "America/New_York" in miami.zones
    assert "America/Chicago" in miami.zones
    manhattan = locate({"mobile": "212-555-0100"})
    assert (manhattan.source, manhattan.states, manhattan.zones) == (
        "phone",
        ("NY",),
        ("America/New_York",),
    )
    # 20:30 EDT: New York's window is open, Florida's is not.
    assert allowed({"mobile": "212-555-0100"}, "2026-07-15T00:30:00Z")
    assert not allowed({"phone": "(305) 555-0100"}, "2026-07-15T00:30:00Z")
    # A state spanning two zones keeps both, whatever the area code's own zone.
    assert set(locate({"phone": "+1 270 555 0100"}).zones) == {
        "America/Chicago",
        "America/New_York",
    }
    london = locate({"phone": "+44 20 7946 0958"})
    assert (london.source, london.zones, london.states) == ("phone", ("Europe/London",), ())


def test_the_address_wins_over_the_phone() -> None:
    moved = locate({"state": "WA", "country": "US", "phone": "+1 212 555 0100"})
    assert moved.source == "address"
    assert moved.zones == ("America/Los_Angeles",)  # New York's number, Seattle's clock
    german = locate({"country": "Germany", "phone": "+49 30 1234567"})
    assert (german.source, german.country, german.zones) == ("address", "DE", ("Europe/Berlin",))


# ------------------------------------------------------------------------- unknown zones


def test_an_unknown_zone_gets_only_the_hours_allowed_everywhere_in_the_us() -> None:
    nobody = locate({"job_title": "Nurse"})
    assert nobody.source == "unknown"
    assert set(nobody.zones) >= {"America/New_York", "Pacific/Honolulu", "Pacific/Guam"}
    # July: 08:00 in Guam (UTC+10) is 22:00 UTC; Florida's 20:00 Eastern is 00:00 UTC.
    hours = quiet_hours(nobody, RULES, at("2026-07-15T13:30:00Z"))
    assert not hours.allowed
    assert str(hours.window) == "08:00–20:00"
    assert iso(hours.next_allowed_at) == "2026-07-15T22:00"
    assert allowed({}, "2026-07-15T23:30:00Z")
    assert not allowed({}, "2026-07-16T00:00:00Z")
    # A number that names no place (toll-free) is no help either.
    assert locate({"phone": "+1 800 555 0100"}).source == "unknown"
    assert locate({"country": "US"}).source == "unknown"


def test_the_unknown_zone_window_is_inside_every_us_zones_window() -> None:
    found = quiet_hours(locate({}), RULES, at("2026-01-20T00:00:00Z")).next_allowed_at
    assert found is not None
    moment = datetime.fromtimestamp(found, UTC)
    for name in US_ZONES:
        local = moment.astimezone(ZoneInfo(name))
        assert 8 <= local.hour < 20, name
        later = (moment + timedelta(minutes=30)).astimezone(ZoneInfo(name))
        assert 8 <= later.hour < 20, name


# ---------------------------------------------------------------------------- settings


def test_other_states_are_configurable_and_the_built_in_ones_stay() -> None:
    section = ComplianceSection(
        quiet_hours="09:00-20:00",
        states={
            "tx": {"quiet_hours": "09:00-21:00", "max_per_day": 5},
            "FL": {"quiet_hours": "08:00-19:00"},
        },
    )
    rules = ContactRules.from_settings(section)
    assert str(rules.rule("TX").window) == "09:00–21:00"
    assert rules.rule("TX").max_per_day == 5
    assert str(rules.rule("FL").window) == "08:00–19:00"  # overridden
    assert rules.rule("OK").max_per_day == 3  # built in
    assert str(rules.rule("NY").window) == "09:00–20:00"  # the default
    with pytest.raises(ValidationError, match="end after it starts"):
        ComplianceSection(quiet_hours="21:00-08:00")
    with pytest.raises(ValidationError, match="not a US state"):
        ComplianceSection(states={"XX": {"quiet_hours": "08:00-20:00"}})


# ------------------------------------------------------------- can_contact and the cap


def opted_in(channel: str = "sms") -> ConsentState:
    record = ConsentRecord("c1", "p1", channel, "opted_in", "form", at("2026-01-01"), 0.0)
    return consent_state([record])


def test_florida_allows_three_texts_in_24_hours() -> None:
    person = {"state": "FL", "mobile_phone": "+1 305 555 0100"}
    now = at("2026-07-15T16:00:00Z")  # noon in Miami
    sent = [now - 20 * 3600, now - 5 * 3600, now - 3600]
    two = can_contact(Recipient(person, opted_in(), sent[1:]), "sms", now)
    assert two.allowed
    assert two.code == "ok"
    three = can_contact(Recipient(person, opted_in(), sent), "sms", now)
    assert (three.allowed, three.code) == (False, "too_many")
    assert "FL rule allows 3" in three.reason
    # Free again when the oldest of the three is 24 hours old, if that is in the window:
    # 20 h ago + 24 h = 4 h from now, 16:00 in Miami.
    assert iso(three.next_allowed_at) == "2026-07-15T20:00"
    older = [now - 25 * 3600, *sent[1:]]  # one of them is more than a day old
    assert can_contact(Recipient(person, opted_in(), older), "sms", now).allowed
    # New York has no cap of its own.
    new_yorker = Recipient({"state": "NY"}, opted_in(), sent * 3)
    assert can_contact(new_yorker, "sms", now).allowed


def test_the_cap_frees_up_inside_the_window_only() -> None:
    person = {"state": "FL"}
    now = at("2026-07-15T23:00:00Z")  # 19:00 EDT, 18:00 CDT
    sent = [now - 23.5 * 3600, now - 3600, now - 1800]  # the oldest leaves the day at 19:30 EDT
    decision = can_contact(Recipient(person, opted_in(), sent), "sms", now)
    assert decision.code == "too_many"
    assert iso(decision.next_allowed_at) == "2026-07-15T23:30"
    late = [now - 23.9 * 3600 + 3 * 3600, now - 3600, now - 1800]  # frees at 21:54 EDT
    decision = can_contact(Recipient(person, opted_in(), late), "sms", now)
    assert iso(decision.next_allowed_at) == "2026-07-16T13:00"  # 08:00 in Pensacola


def test_an_unknown_zone_gets_the_strictest_cap_too() -> None:
    now = at("2026-07-15T23:00:00Z")
    sent = [now - 3 * 3600, now - 2 * 3600, now - 3600]
    decision = can_contact(Recipient({}, opted_in(), sent), "sms", now)
    assert decision.code == "too_many"


def test_quiet_hours_govern_texts_and_calls_not_e_mail() -> None:
    night = at("2026-07-15T06:00:00Z")  # 02:00 in New York
    person = {"state": "NY"}
    sms = can_contact(Recipient(person, opted_in()), "sms", night)
    assert (sms.code, iso(sms.next_allowed_at)) == ("quiet_hours", "2026-07-15T12:00")
    assert "08:00–21:00" in sms.reason
    assert "America/New_York" in sms.reason
    unknown = ConsentState({c: ChannelStatus("unknown") for c in ("email", "sms", "phone")})
    phone = can_contact(Recipient(person, unknown), "phone", night)
    assert phone.code == "quiet_hours"
    assert can_contact(Recipient(person, unknown), "email", night).allowed
