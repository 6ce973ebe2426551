"""Quiet hours: when a person may be texted or called, in their local time (DESIGN §9.2).

Pure: no store, no clock (``at`` is a parameter). A person's possible time zones come from
their address (``state``, ``country``), else their phone number's area code, else they
are unknown; the window then has to hold in *every* zone they may be in, so a person in a
state that spans two zones, or one we cannot place at all, gets the strictest window.

The federal window (the TCPA's, 08:00–21:00) is the default; some states are stricter —
Florida, Oklahoma and Maryland allow 08:00–20:00 and at most three messages in 24 hours —
and a state whose rule applies is one the address names or one whose area code the phone
has (Florida presumes a call to a Florida area code reaches a Florida resident).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import phonenumbers
from phonenumbers import timezone as phone_zones

from leadgrade.core.attributes import attribute_name

if TYPE_CHECKING:
    from leadgrade.settings import ComplianceSection

# ------------------------------------------------------------------------------ tables

#: The IANA zones each US state, DC and territory spans — every zone some of its residents
#: keep, so that the window holds in all of them. Zones with the same rules as one listed
#: (America/Juneau as Anchorage, America/Kentucky/Louisville as New York) are left out.
STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": ("America/Chicago", "America/New_York"),  # Phenix City keeps Eastern time
    "AK": ("America/Anchorage", "America/Adak"),
    "AZ": ("America/Phoenix", "America/Denver"),  # the Navajo Nation keeps daylight time
    "AR": ("America/Chicago",),
    "CA": ("America/Los_Angeles",),
    "CO": ("America/Denver",),
    "CT": ("America/New_York",),
    "DE": ("America/New_York",),
    "DC": ("America/New_York",),
    "FL": ("America/New_York", "America/Chicago"),
    "GA": ("America/New_York",),
    "HI": ("Pacific/Honolulu",),
    "ID": ("America/Boise", "America/Los_Angeles"),
    "IL": ("America/Chicago",),
    "IN": ("America/Indiana/Indianapolis", "America/Chicago"),
    "IA": ("America/Chicago",),
    "KS": ("America/Chicago", "America/Denver"),
    "KY": ("America/New_York", "America/Chicago"),
    "LA": ("America/Chicago",),
    "ME": ("America/New_York",),
    "MD": ("America/New_York",),
    "MA": ("America/New_York",),
    "MI": ("America/Detroit", "America/Menominee"),
    "MN": ("America/Chicago",),
    "MS": ("America/Chicago",),
    "MO": ("America/Chicago",),
    "MT": ("America/Denver",),
    "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles", "America/Denver"),  # West Wendover keeps Mountain time
    "NH": ("America/New_York",),
    "NJ": ("America/New_York",),
    "NM": ("America/Denver",),
    "NY": ("America/New_York",),
    "NC": ("America/New_York",),
    "ND": ("America/Chicago", "America/Denver"),
    "OH": ("America/New_York",),
    "OK": ("America/Chicago",),
    "OR": ("America/Los_Angeles", "America/Boise"),
    "PA": ("America/New_York",),
    "RI": ("America/New_York",),
    "SC": ("America/New_York",),
    "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"),
    "TX": ("America/Chicago", "America/Denver"),
    "UT": ("America/Denver",),
    "VT": ("America/New_York",),
    "VA": ("America/New_York",),
    "WA": ("America/Los_Angeles",),
    "WV": ("America/New_York",),
    "WI": ("America/Chicago",),
    "WY": ("America/Denver",),
    "PR": ("America/Puerto_Rico",),
    "VI": ("America/St_Thomas",),
    "GU": ("Pacific/Guam",),
    "MP": ("Pacific/Saipan",),
    "AS": ("Pacific/Pago_Pago",),
}

STATE_NAMES: dict[str, str] = {
    "alabama": "AL",
    "alaska": "AK",
    "arizona": "AZ",
    "arkansas": "AR",
    "california": "CA",
    "colorado": "CO",
    "connecticut": "CT",
    "delaware": "DE",
    "district of columbia": "DC",
    "washington dc": "DC",
    "washington d c": "DC",
    "florida": "FL",
    "georgia": "GA",
    "hawaii": "HI",
    "idaho": "ID",
    "illinois": "IL",
    "indiana": "IN",
    "iowa": "IA",
    "kansas": "KS",
    "kentucky": "KY",
    "louisiana": "LA",
    "maine": "ME",
    "maryland": "MD",
    "massachusetts": "MA",
    "michigan": "MI",
    "minnesota": "MN",
    "mississippi": "MS",
    "missouri": "MO",
    "montana": "MT",
    "nebraska": "NE",
    "nevada": "NV",
    "new hampshire": "NH",
    "new jersey": "NJ",
    "new mexico": "NM",
    "new york": "NY",
    "north carolina": "NC",
    "north dakota": "ND",
    "ohio": "OH",
    "oklahoma": "OK",
    "oregon": "OR",
    "pennsylvania": "PA",
    "rhode island": "RI",
    "south carolina": "SC",
    "south dakota": "SD",
    "tennessee": "TN",
    "texas": "TX",
    "utah": "UT",
    "vermont": "VT",
    "virginia": "VA",
    "washington": "WA",
    "washington state": "WA",
    "west virginia": "WV",
    "wisconsin": "WI",
    "wyoming": "WY",
    "puerto rico": "PR",
    "us virgin islands": "VI",
    "u s virgin islands": "VI",
    "virgin islands": "VI",
    "guam": "GU",
    "northern mariana islands": "MP",
    "american samoa": "AS",
}

#: The state of each US (and territory) area code, from the North American Numbering Plan
#: as the phonenumbers library describes it; an area code missing here (a new overlay) is
#: looked up in that library's geocoder, which is slow to load.
_AREA_CODES = """
AK 907
AL 205 251 256 334 659 938
AR 327 479 501 870
AS 684
AZ 480 520 602 623 928
CA 209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657
   661 669 707 714 738 747 760 805 818 820 831 840 858 909 916 925 949 951
CO 303 719 720 748 970 983
CT 203 475 860 959
DC 202 771
DE 302
FL 239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904
   941 954
GA 229 404 470 478 678 706 762 770 912 943
GU 671
HI 808
IA 319 515 563 641 712
ID 208 986
IL 217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 872
IN 219 260 317 463 574 765 812 930
KS 316 620 785 913
KY 270 364 502 606 859
LA 225 318 337 504 985
MA 339 351 413 508 617 774 781 857 978
MD 227 240 301 410 443 667
ME 207
MI 231 248 269 313 517 586 616 734 810 906 947 989
MN 218 320 507 612 651 763 952
MO 235 314 417 557 573 636 660 816 975
MP 670
MS 228 601 662 769
MT 406
NC 252 336 472 704 743 828 910 919 980 984
ND 701
NE 308 402 531
NH 603
NJ 201 551 609 640 732 848 856 862 908 973
NM 505 575
NV 702 725 775
NY 212 315 329 332 347 363 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934
OH 216 220 234 283 326 330 380 419 440 513 567 614 740 937
OK 405 539 572 580 918
OR 458 503 541 971
PA 215 223 267 272 412 445 484 570 582 610 717 724 814 835 878
PR 787 939
RI 401
SC 803 821 839 843 854 864
SD 605
TN 423 615 629 731 865 901 931
TX 210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903
   915 936 940 945 956 972 979
UT 385 435 801
VA 276 434 540 571 686 703 757 804 826 948
VI 340
VT 802
WA 206 253 360 425 509 564
WI 262 274 353 414 534 608 715 920
WV 304 681
WY 307
"""
AREA_CODES: dict[int, str] = {
    int(code): line.split()[0]
    for line in _AREA_CODES.replace("\n   ", " ").strip().splitlines()
    for code in line.split()[1:]
}

#: US territories with ISO 3166 codes of their own: as a ``country`` they are a state here.
TERRITORIES = frozenset({"PR", "VI", "GU", "MP", "AS"})

US_NAMES = frozenset(
    {"us", "usa", "u s", "u s a", "united states", "united states of america", "america"}
)
COUNTRY_NAMES: dict[str, str] = {
    "uk": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "canada": "CA",
    "mexico": "MX",
    "ireland": "IE",
    "germany": "DE",
    "france": "FR",
    "spain": "ES",
    "netherlands": "NL",
    "india": "IN",
    "australia": "AU",
}

#: Attributes that may hold the number a person is texted or called on, the first found.
PHONE_ATTRIBUTES = (
    "mobile_phone",
    "mobile",
    "cell_phone",
    "mobile_number",
    "sms_phone",
    "phone",
    "phone_number",
)
STATE_ATTRIBUTES = ("state", "state_code", "province")
COUNTRY_ATTRIBUTES = ("country", "country_code")

US_ZONES: tuple[str, ...] = tuple(sorted({z for zones in STATE_ZONES.values() for z in zones}))

# ------------------------------------------------------------------------------- rules

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    """Hours of the day, local time: from ``start`` up to (not including) ``end``,
    in minutes after midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"08:00-21:00"``; raises ValueError naming what is wrong."""
        found = _CLOCK.match(text)
        if found is None:
            raise ValueError(f"{text!r} is not a window of hours like 08:00-21:00")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"{text!r}: hours are 00–23 (24:00 for midnight), minutes 00–59")
        window = cls(h1 * 60 + m1, h2 * 60 + m2)
        if window.start >= window.end:
            raise ValueError(f"{text!r}: the window must end after it starts, the same day")
        return window

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}–{self.end // 60:02d}:{self.end % 60:02d}"
        )

    def holds(self, local: datetime) -> bool:
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return self.start * 60 <= seconds < self.end * 60

    def within(self, other: Window) -> Window | None:
        """The hours in both windows (None if they do not meet)."""
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Window(start, end) if start < end else None


FEDERAL = Window(8 * 60, 21 * 60)  # the TCPA's: no calls or texts before 8 a.m. or after 9 p.m.


@dataclass(frozen=True)
class StateRule:
    """A state's own rule: its window and the most calls and texts in any 24 hours."""

    window: Window
    max_per_day: int | None = None


#: States stricter than the TCPA: their telephone-solicitation acts allow 08:00–20:00 and
#: at most three calls or texts on one subject in 24 hours (Fla. Stat. 501.059, Okla. Stat.
#: tit. 15 § 775C, Md. Com. Law § 14-4501). ``[compliance.states]`` adds and overrides.
BUILT_IN_STATES: dict[str, StateRule] = {
    "FL": StateRule(Window(8 * 60, 20 * 60), 3),
    "OK": StateRule(Window(8 * 60, 20 * 60), 3),
    "MD": StateRule(Window(8 * 60, 20 * 60), 3),
}


@dataclass(frozen=True)
class ContactRules:
    """The windows and caps in force: a default window (the TCPA's) and per-state rules."""

    window: Window = FEDERAL
    max_per_day: int | None = None
    states: Mapping[str, StateRule] = field(default_factory=lambda: dict(BUILT_IN_STATES))

    @classmethod
    def from_settings(cls, section: ComplianceSection) -> ContactRules:
        """The built-in state rules, with ``[compliance]`` added and overriding."""
        states = dict(BUILT_IN_STATES)
        for code, rule in section.states.items():
            states[code] = StateRule(Window.parse(rule.quiet_hours), rule.max_per_day)
        return cls(Window.parse(section.quiet_hours), section.max_per_day, states)

    def rule(self, state: str | None) -> StateRule:
        found = None if state is None else self.states.get(state)
        return found or StateRule(self.window, self.max_per_day)


# ------------------------------------------------------------------------------ places


@dataclass(frozen=True)
class Place:
    """Where a person may be: the zones they may be in, the US states (and territories)
    whose rules apply to them, and what told us (``address``, ``phone`` or ``unknown``)."""

    zones: tuple[str, ...]
    states: tuple[str, ...]
    source: str
    country: str | None = None

    def describe(self) -> str:
        where = ", ".join(self.states) if self.states and self.source != "unknown" else ""
        zones = ", ".join(self.zones) if len(self.zones) <= 4 else f"{len(self.zones)} zones"
        if self.source == "unknown":
            return f"time zone unknown: every US zone ({zones})"
        return f"{where + ' ' if where else ''}({zones}, from the {self.source})"


def _words(value: object) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", str(value).lower()).split())


def state_code(value: object) -> str | None:
    """``FL``, ``fl``, ``Florida`` → ``FL``; None when it names no US state or territory."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _words(value)
    upper = text.upper()
    if upper in STATE_ZONES:
        return upper
    return STATE_NAMES.get(text)


def country_code(value: object) -> str | None:
    """An ISO 3166 alpha-2 code (``US``, ``GB``), or a few common names; None if unknown."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _words(value)
    if text in US_NAMES:
        return "US"
    if text in COUNTRY_NAMES:
        return COUNTRY_NAMES[text]
    upper = text.upper()
    if len(upper) == 2 and (upper in _country_zones() or upper in TERRITORIES or upper == "US"):
        return upper
    return None


@cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """Country code → its zones, from the time zone database's ``zone.tab``."""
    found: dict[str, list[str]] = {}
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / "zone.tab"
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) >= 3:
                found.setdefault(parts[0], []).append(parts[2])
        break
    return {code: tuple(sorted(zones)) for code, zones in found.items()}


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _known(zones: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({z for z in zones if _zone(z) is not None}))


@dataclass(frozen=True)
class _Phone:
    zones: tuple[str, ...]
    state: str | None
    region: str | None


def _phone(value: object, region: str) -> _Phone | None:
    """A phone number's zones and, for a US number, the state of its area code."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    number_region = phonenumbers.region_code_for_number(number)
    zones = _known(z for z in phone_zones.time_zones_for_number(number) if z != "Etc/Unknown")
    state = None
    if number_region in TERRITORIES:
        state = number_region
    elif number_region == "US":
        area = (number.national_number or 0) // 10_000_000
        state = AREA_CODES.get(area) or _geocoded(number)
    return _Phone(zones, state, number_region)


def _geocoded(number: phonenumbers.PhoneNumber) -> str | None:
    """The state the geocoder names for a US number ("Florida", "Pensacola, FL")."""
    from phonenumbers import geocoder  # its data takes a second to load: only when needed

    description = geocoder.description_for_number(number, "en")
    state = state_code(description)
    if state is None and "," in description:
        state = state_code(description.rsplit(",", 1)[1])
    return state


def _first(attributes: Mapping[str, Any], names: Iterable[str]) -> object:
    normal = {attribute_name(k): v for k, v in attributes.items()}
    for name in names:
        value = normal.get(name)
        if value not in (None, ""):
            return value
    return None


def locate(attributes: Mapping[str, Any]) -> Place:
    """Where a person may be, from their attributes: the address (``state``,
    ``country``) first, else the phone number (``mobile_phone``, ``phone``, …), else
    unknown — every US zone, and every state's rule."""
    country = country_code(_first(attributes, COUNTRY_ATTRIBUTES))
    state = state_code(_first(attributes, STATE_ATTRIBUTES)) if country in (None, "US") else None
    if country in TERRITORIES:
        state = country
    phone = _phone(_first(attributes, PHONE_ATTRIBUTES), country or "US")
    phone_state = phone.state if phone else None
    also = (phone_state,) if phone_state and phone_state != state else ()
    if state is not None:
        return Place(_known(STATE_ZONES[state]), (state, *also), "address", "US")
    if country is not None and country != "US":
        zones = _known(_country_zones().get(country, ()))
        if phone and phone.region == country and set(phone.zones) & set(zones):
            zones = tuple(sorted(set(phone.zones) & set(zones)))
        if zones:
            return Place(zones, also, "address", country)
    if phone is not None and (country is None or country == phone.region or phone_state):
        if phone_state:
            zones = _known((*STATE_ZONES[phone_state], *phone.zones))
            return Place(zones, (phone_state,), "phone", "US")
        if phone.zones and phone.region != "US":
            return Place(phone.zones, (), "phone", phone.region)
    return Place(_known(US_ZONES), tuple(sorted(STATE_ZONES)), "unknown", country)


# ------------------------------------------------------------------------- the window


@dataclass(frozen=True)
class Hours:
    """What quiet hours say for a place at an instant."""

    allowed: bool
    window: Window | None  # the strictest window of the rules that apply; None: none left
    next_allowed_at: float | None  # the first instant from ``at`` allowed everywhere
    local: Mapping[str, datetime]  # the local time in each zone at ``at``
    rule_of: str  # whose rule set the window: "FL", "the default"


def window_for(place: Place, rules: ContactRules) -> tuple[Window | None, str]:
    """The hours allowed in every rule that applies to the place (its states' rules, or
    the default for a place in no state), and whose rule it is."""
    window: Window | None = rules.window
    source = "the default"
    for state in place.states:
        rule = rules.rule(state)
        if window is not None:
            narrower = window.within(rule.window)
            if narrower != window and state in rules.states:
                source = state
            window = narrower
    return window, source


def max_per_day(place: Place, rules: ContactRules) -> tuple[int | None, str]:
    """The smallest cap of the rules that apply, and whose it is."""
    best: int | None = rules.max_per_day
    source = "the default"
    for state in place.states:
        cap = rules.rule(state).max_per_day
        if cap is not None and (best is None or cap < best):
            best, source = cap, state
    return best, source


def _allowed(window: Window, zones: Iterable[str], instant: float) -> bool:
    moment = datetime.fromtimestamp(instant, UTC)
    for name in zones:
        zone = _zone(name)
        if zone is not None and not window.holds(moment.astimezone(zone)):
            return False
    return True


def next_allowed(window: Window, zones: tuple[str, ...], at: float, days: int = 8) -> float | None:
    """The first instant from ``at`` at which ``window`` holds in every zone, looked for
    over ``days`` days; None if there is none (zones too far apart for the window)."""
    if _allowed(window, zones, at):
        return at
    moment = datetime.fromtimestamp(at, UTC)
    candidates: set[float] = set()
    for name in zones:
        zone = _zone(name)
        if zone is None:
            continue
        today = moment.astimezone(zone).date()
        for offset in range(-1, days + 1):
            day = today + timedelta(days=offset)
            opens = datetime(
                day.year, day.month, day.day, window.start // 60, window.start % 60, tzinfo=zone
            )
            instant = opens.astimezone(UTC).timestamp()
            if instant > at:
                candidates.add(instant)
    for instant in sorted(candidates):
        if _allowed(window, zones, instant):
            return instant
    return None


def quiet_hours(place: Place, rules: ContactRules, at: float) -> Hours:
    """Whether ``at`` is inside the allowed hours in every zone the person may be in, and
    if not, the next instant that is."""
    window, source = window_for(place, rules)
    moment = datetime.fromtimestamp(at, UTC)
    local = {}
    for name in place.zones:
        zone = _zone(name)
        if zone is not None:
            local[name] = moment.astimezone(zone)
    if window is None:
        return Hours(False, None, None, local, source)
    if _allowed(window, place.zones, at):
        return Hours(True, window, at, local, source)
    return Hours(False, window, next_allowed(window, place.zones, at), local, source)
