"""Segments for nurture: the file and its lint (pure), evaluation against a brute-force
reading at arbitrary times (hypothesis), membership kept current in the store by the
engine and by timers (SQLite and PostgreSQL), the outbox messages, the CSV export, the
API and the CLI."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadgrade.api import create_app
from leadgrade.cli import app as cli
from leadgrade.core import EngagementState, Event, Model, conditions
from leadgrade.core.scoring import numbers
from leadgrade.core.segments import (
    Curve,
    GradeRange,
    LeadFacts,
    Segment,
    SegmentSpec,
    check_segments,
    grade_cells,
    instant,
    parse_segments,
)
from leadgrade.engine import STAGES, AudienceMap, AudienceRule, Engine, EventIn, PersonRef
from leadgrade.handoff.segments import (
    Segments,
    email_sha256,
    install,
    timer_id,
    write_csv,
)
from leadgrade.handoff.timers import Timers, schedule
from leadgrade.keys import create_key
from leadgrade.leads import get_lead, move_stage
from leadgrade.settings import NotificationsSection
from leadgrade.store import Store
from leadgrade.store.schema import leads, outbox, segment_members, timers
from leadgrade.times import utc
from tests import strategies
from tests.conftest import BASE_MODEL, DAY, T0, Writer, build, model_dict

AUDIENCES = {"employer": "employer", "candidate": "candidate"}

# ------------------------------------------------------------------- the file and lint


def problems_of(text: str, **options: Any) -> list[str]:
    options.setdefault("audiences", AUDIENCES)
    options.setdefault("lists", {"served_states": ("TX",), "empty": ()})
    _, problems = check_segments(text, "segments.yaml", stages=STAGES, **options)
    return [str(p) for p in problems]


def one(body: str, audience: str = "employer") -> str:
    """A file with one segment: ``body`` holds its conditions, indented 4."""
    return f"segments:\n  - id: s1\n    name: S\n    audience: {audience}\n{body}"


GUARDRAIL = "may not select leads: guardrail 'protected attributes never score'"
CANDIDATES = "may not select leads for the 'candidate' audience: guardrail"
NOT_A_STAGE = "'placed' is not a stage; use one of lead, mql, sal, sql, opportunity, won, "


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("segments: [\n", "segments.yaml:2: not valid YAML"),
        ("- id: x\n", "segments.yaml:1: a segments file is a mapping: segments: [...]"),
        (one("    stages: [mql]\n    colour: red\n"), ":6: segments[0].colour: unknown key"),
        ("segments:\n  - {id: s1, audience: employer}\n", ":2: segments[0]: missing key 'name'"),
        ("segments:\n  - {id: S 1, name: x, audience: employer}\n", "id: string should match"),
        (one("    stages: [mql, placed]\n"), f":5: segments[0].stages[1]: {NOT_A_STAGE}"),
        (one("    grades: [A1, E5]\n"), ":5: segments[0].grades[1]: 'E5' is not a grade: a letter"),
        (one("    grades: {from: B2, to: C5}\n"), ":5: segments[0].grades.to: 'C5' is not a grade"),
        (one("    grades: {from: B2}\n"), ":5: segments[0].grades: missing key 'to'"),
        (one("    grades: B2\n"), ":5: segments[0].grades: write a list of grades ([A1, B2]) or"),
        (one("    score: {at_least: 70, at_most: 40}\n"), "score: at_least (70) is above at_most"),
        (one("    score: {}\n"), "segments[0].score: give at_least, at_most or both"),
        (
            one("    events:\n      - {type: job.apply, at_least: 0}\n"),
            "segments[0].events[0]: at_least: 0 without at_most always holds",
        ),
        (
            one("    events:\n      - {type: job.apply, at_least: 3, at_most: 1}\n"),
            "segments[0].events[0]: at_least (3) is above at_most (1)",
        ),
        (
            one("    events:\n      - {type: job.apply, within: 30}\n"),
            "segments[0].events[0].within: write a duration with a unit",
        ),
        (one("    events:\n      - {where: {form: x}}\n"), "events[0]: missing key 'type'"),
        (
            one("    attributes:\n      contract_end: {within_days: 45, older_than_days: 3}\n"),
            ":6: segments[0].attributes.contract_end: within_days and older_than_days never",
        ),
        (
            one("    attributes:\n      contract_end: {within_days: 0}\n"),
            "attributes.contract_end.within_days: input should be greater than 0",
        ),
        (one("    attributes:\n      industry: {}\n"), "attributes.industry: give one operator"),
        (
            one("    attributes:\n      state: {in_list: served_zips}\n"),
            ":6: segments[0].attributes.state.in_list: no named list 'served_zips' (lists found",
        ),
        (one("", audience="rpo"), ":4: segments[0].audience: no audience 'rpo' in the workspace"),
        (
            one("    attributes:\n      dateOfBirth: {older_than_days: 9000}\n"),
            f":6: segments[0].attributes.dateOfBirth: the attribute 'dateOfBirth' {GUARDRAIL}",
        ),
        (
            one("    attributes:\n      Gender: female\n"),
            f"attributes.Gender: the attribute 'Gender' {GUARDRAIL} (sex and gender)",
        ),
        (
            one("    attributes:\n      zip_code: {prefix: '750'}\n", audience="candidate"),
            f":6: segments[0].attributes.zip_code: the attribute 'zip_code' {CANDIDATES}",
        ),
        (
            one(
                "    events:\n      - type: web.page_view\n        where: {postalCode: '75201'}\n",
                audience="candidate",
            ),
            ":7: segments[0].events[0].where.postalCode: the event property 'postalCode' may not",
        ),
        (
            "segments:\n  - {id: a, name: A, audience: employer}\n"
            "  - {id: a, name: B, audience: employer}\n",
            ":3: segments[1].id: segment id 'a' is already used on line 2",
        ),
    ],
)
def test_a_bad_file_is_refused_with_the_line_and_key(text: str, expected: str) -> None:
    found, problems = check_segments(
        text,
        "segments.yaml",
        stages=STAGES,
        audiences=AUDIENCES,
        lists={"served_states": ("TX",), "empty": ()},
    )
    assert found is None
    shown = "\n".join(str(p) for p in problems)
    assert expected in shown, shown


def test_zip_codes_may_select_employers_not_candidates() -> None:
    body = "    attributes:\n      zip_code: {prefix: '750'}\n"
    assert problems_of(one(body, "employer")) == []
    assert (
        "may not select leads for the 'candidate' audience"
        in problems_of(one(body, "candidate"))[0]
    )
    # Without the workspace's audiences, any audience but `employer` is candidates.
    assert problems_of(one(body, "rpo"), audiences=None)


def test_warnings_do_not_refuse_a_file() -> None:
    text = one("    attributes:\n      state: {in_list: empty}\n      title: {contains: young}\n")
    found, problems = check_segments(
        text, "s.yaml", stages=STAGES, audiences=AUDIENCES, lists={"empty": ()}
    )
    assert found is not None
    assert [p.severity for p in problems] == ["warning", "warning"]
    assert "the list 'empty' is empty" in str(problems[0])
    assert "age- or sex-coded (young)" in str(problems[1])


def test_an_empty_file_has_no_segments() -> None:
    assert parse_segments("", stages=STAGES) == []
    assert parse_segments("segments: []\n", stages=STAGES) == []


def test_the_shipped_segments_load_with_the_shipped_models(
    shipped_models: dict[str, Model], template_lists: dict[str, tuple[str, ...]]
) -> None:
    from leadgrade.workspace import TEMPLATE

    text = (Path(str(TEMPLATE)) / "segments.yaml").read_text()
    found, problems = check_segments(
        text,
        "segments.yaml",
        stages=STAGES,
        audiences={a: m.kind for a, m in shipped_models.items()},
        lists=template_lists,
    )
    assert problems == []
    assert found is not None
    assert [s.id for s in found] == [
        "employer-salary-guide",
        "contract-ending",
        "quiet-strong-candidates",
    ]
    for segment in found:  # every event type a shipped segment counts is one a model reads
        for kind in segment.event_types:
            assert shipped_models[segment.audience].rules_for(kind), kind


# ------------------------------------------------------------------- grades and dates


def test_a_grade_range_is_the_rectangle_between_two_corners() -> None:
    def cells(a: str, b: str) -> list[str]:
        return sorted(grade_cells(GradeRange.model_validate({"from": a, "to": b})))

    assert cells("B2", "C3") == ["B2", "B3", "C2", "C3"]
    assert cells("C3", "B2") == cells("B2", "C3") == cells("B3", "C2")
    assert cells("A1", "A1") == ["A1"]
    assert cells("A3", "B4") == ["A3", "A4", "B3", "B4"]
    assert len(cells("A1", "D4")) == 16


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_dates_read_as_python_reads_them(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert instant(aware.isoformat()) == pytest.approx(aware.timestamp(), abs=1e-6)
    assert instant(aware.isoformat().replace("+00:00", "Z")) == pytest.approx(
        aware.timestamp(), abs=1e-6
    )
    day = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    assert instant(day.date().isoformat()) == day.timestamp()


def test_dates_with_offsets_and_things_that_are_not_dates() -> None:
    assert instant("2026-11-15T10:00:00+02:00") == datetime(2026, 11, 15, 8, tzinfo=UTC).timestamp()
    assert instant("2026-11-15 10:00") == datetime(2026, 11, 15, 10, tzinfo=UTC).timestamp()
    for bad in (
        "2026-02-30",
        "2026-13-01",
        "15/11/2026",
        "soon",
        "",
        1_790_000_000,
        None,
        "2026-11-15T25:00",
    ):
        assert instant(bad) is None, bad
    assert instant("2024-02-29") is not None
    assert instant("2023-02-29") is None


# --------------------------------------------------------------- evaluation, brute force


def brute(
    spec: SegmentSpec,
    model: Model,
    stage: str,
    attributes: dict[str, object],
    events: Sequence[Event],
    t: float,
) -> tuple[bool, bool]:
    """(member, near a boundary) at ``t``, read the plain way: the lead's numbers at ``t``
    compared with the bounds, events counted one by one, dates parsed by Python."""
    state = EngagementState()
    for event in sorted(events, key=lambda e: e.at):
        state.add(model, event)
    card = numbers(model, attributes, state, max(t, state.as_of or t))
    near = False
    # A bound met exactly is judged as written when engagement stands still; when it
    # decays, the instant of equality is a crossing, where rounding may go either way.
    moving = bool(model.decay_rate and state.split(model)[0])
    ok = spec.stages is None or stage in spec.stages
    if spec.grades is not None:
        if isinstance(spec.grades, list):
            ok &= card.grade in spec.grades
        else:
            corners = (spec.grades.from_, spec.grades.to)
            letters = sorted(c[0] for c in corners)
            digits = sorted(c[1] for c in corners)
            ok &= (
                letters[0] <= card.grade[0] <= letters[1]
                and digits[0] <= card.grade[1] <= digits[1]
            )
        g = model.spec.grades.engagement
        near |= moving and any(abs(card.engagement - x) < 1e-6 for x in (g.one, g.two, g.three))
    if spec.score is not None:
        for bound in (spec.score.at_least, spec.score.at_most):
            near |= moving and bound is not None and abs(card.score - bound) < 1e-6
        ok &= spec.score.at_least is None or card.score >= spec.score.at_least
        ok &= spec.score.at_most is None or card.score <= spec.score.at_most
    for name, test in spec.attributes.items():
        text = attributes.get(name)
        assert isinstance(text, str)
        date = datetime.fromisoformat(text)
        date = date if date.tzinfo else date.replace(tzinfo=UTC)
        ahead = date.timestamp() - t
        if test.within_days is not None:
            ok &= 0 < ahead <= test.within_days * DAY
        if test.within_last_days is not None:
            ok &= 0 <= -ahead < test.within_last_days * DAY
        if test.older_than_days is not None:
            ok &= -ahead >= test.older_than_days * DAY
    for test in spec.events:
        count = 0
        for event in events:
            if event.type not in test.type:
                continue
            if not all(
                conditions.build(ops.operands(), {}).test(event.properties.get(name))
                for name, ops in test.where.items()
            ):
                continue
            if event.at <= t and (test.within is None or t < event.at + test.within):
                count += 1
        low, high = test.counts()
        ok &= count >= low and (high is None or count <= high)
    return ok, near


CELLS = [letter + digit for letter in "ABCD" for digit in "1234"]


@st.composite
def segment_specs(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "s", "name": "generated", "audience": "employer"}
    if draw(st.booleans()):
        data["stages"] = draw(
            st.lists(st.sampled_from(["lead", "mql", "won"]), min_size=1, unique=True)
        )
    grades = draw(st.sampled_from(["none", "range", "cells"]))
    if grades == "range":
        data["grades"] = {"from": draw(st.sampled_from(CELLS)), "to": draw(st.sampled_from(CELLS))}
    elif grades == "cells":
        data["grades"] = draw(st.lists(st.sampled_from(CELLS), min_size=1, max_size=6, unique=True))
    if draw(st.booleans()):
        low = draw(st.none() | st.integers(-5, 60))
        high = draw(st.none() | st.integers(0, 120))
        if low is not None and high is not None and low > high:
            low, high = high, low
        if low is not None or high is not None:
            data["score"] = {
                k: v for k, v in (("at_least", low), ("at_most", high)) if v is not None
            }
    if draw(st.booleans()):
        date: dict[str, float] = {}
        kind = draw(st.sampled_from(["within_days", "within_last_days", "older_than_days", "both"]))
        if kind == "both":
            date = {"within_last_days": 20, "older_than_days": draw(st.integers(1, 19))}
        else:
            date = {kind: draw(st.integers(1, 30))}
        data["attributes"] = {"end": date}
    for _ in range(draw(st.integers(0, 2))):
        test: dict[str, Any] = {"type": draw(st.sampled_from(strategies.EVENT_TYPES))}
        if draw(st.booleans()):
            test["where"] = {"p": {"prefix": "/pricing"}}
        within = draw(st.sampled_from([None, "1h", "1d", "7d"]))
        if within is not None:
            test["within"] = within
        low = draw(st.none() | st.integers(0, 3))
        high = draw(st.none() | st.integers(0, 3))
        if low is not None and high is not None and low > high:
            low, high = high, low
        if low == 0 and high is None:
            low = 1
        test |= {k: v for k, v in (("at_least", low), ("at_most", high)) if v is not None}
        data.setdefault("events", []).append(test)
    return data


def compiled(data: dict[str, Any]) -> Segment:
    return parse_segments(json.dumps({"segments": [data]}), stages=STAGES)[0]


@settings(max_examples=200)
@given(
    strategies.models(),
    segment_specs(),
    strategies.attributes,
    strategies.event_lists(max_size=25),
    st.sampled_from(["lead", "mql", "won"]),
    st.integers(-10, 40),
    st.booleans(),
    st.lists(st.integers(0, int(40 * DAY)), min_size=1, max_size=25),
)
def test_membership_and_its_next_change_agree_with_a_plain_reading_at_any_time(
    model: Model,
    data: dict[str, Any],
    attributes: dict[str, object],
    events: list[Event],
    stage: str,
    end_day: int,
    end_is_a_date: bool,
    offsets: list[int],
) -> None:
    """Evaluated once, then again only when its next change comes due (as the timers do),
    a segment's membership equals a brute-force reading at every time looked at."""
    end = T0 + end_day * DAY
    attributes = dict(attributes)
    attributes["end"] = (
        utc(end).date().isoformat() if end_is_a_date else utc(end + 3600).isoformat()
    )
    segment = compiled(data)
    start = max((e.at for e in events), default=T0)
    state = EngagementState()
    for event in events:
        state.add(model, event)
    fit = numbers(model, attributes, state, start).fit
    facts = LeadFacts(model, stage, fit, Curve.of(model, state), attributes, events)
    times = sorted(start + offset for offset in offsets)
    member, until = segment.evaluate(facts, times[0])
    for t in times:
        if until is not None and until <= t:  # the timer fires
            member, until = segment.evaluate(facts, t)
        assert until is None or until > t
        expected, near = brute(segment.spec, model, stage, attributes, events, t)
        if not near:
            assert member == expected, (t - start) / DAY
            assert segment.evaluate(facts, t).member == expected


def test_the_next_change_is_when_an_event_leaves_its_window(base_model: Model) -> None:
    segment = compiled(
        {
            "id": "s",
            "name": "pricing",
            "audience": "employer",
            "events": [{"type": "web.page_view", "within": "30d", "at_least": 2}],
        }
    )
    events = [Event(f"e{i}", "web.page_view", T0 + i * DAY, {"path": "/pricing"}) for i in range(3)]
    facts = LeadFacts(base_model, "lead", 0.0, Curve.of(base_model, EngagementState()), {}, events)
    # Three in the window until the first leaves (day 30); two until the second (day 31).
    assert segment.evaluate(facts, T0 + 2 * DAY) == (True, T0 + 31 * DAY)
    assert segment.evaluate(facts, T0 + 31 * DAY) == (False, None)
    # Before they happened: in once the second one is in (day 1).
    assert segment.evaluate(facts, T0 - DAY) == (False, T0 + DAY)


def test_the_next_change_is_when_engagement_decays_past_a_score_bound(base_model: Model) -> None:
    segment = compiled(
        {"id": "s", "name": "hot", "audience": "employer", "score": {"at_least": 30}}
    )
    state = EngagementState()
    state.add(base_model, Event("d", "demo.request", T0))
    facts = LeadFacts(base_model, "lead", 0.0, Curve.of(base_model, state), {}, [])
    member, until = segment.evaluate(facts, T0)
    assert member
    assert until is not None
    # 40 · 0.75^(t / 90 d) = 30 after exactly 90 days.
    assert until == pytest.approx(T0 + 90 * DAY)


# ------------------------------------------------------------------------- the store

EMPLOYER = build(BASE_MODEL)
CANDIDATE = build(model_dict(audience="candidate"))
NOTIFY = NotificationsSection.model_validate(
    {
        "base_url": "https://leadgrade.example.com",
        "webhooks": [
            {
                "name": "nurture",
                "url": "http://127.0.0.1:9/hooks",
                "secret": "whsec_c2VjcmV0c2VjcmV0",
                "events": ["segment.*"],
            }
        ],
    }
)
SEGMENTS = """
segments:
  - id: pricing-readers
    name: Read pricing in the last 30 days
    audience: employer
    events:
      - type: web.page_view
        where: {path: {prefix: /pricing}}
        within: 30d
  - id: mid-grade
    name: Grades C3 to B2
    audience: employer
    grades: {from: C3, to: B2}
  - id: contract-ending
    name: Placed candidates whose contract ends within 45 days
    audience: candidate
    stages: [won]
    attributes:
      contract_end: {within_days: 45}
"""


class World:
    """An engine with segments installed, its timers, and ways to look."""

    def __init__(self, store: Store, text: str = SEGMENTS) -> None:
        self.store = store
        models = {"employer": EMPLOYER, "candidate": CANDIDATE}
        audiences = AudienceMap((AudienceRule("candidate", types=("job.*",)),), ("employer",))
        self.engine = Engine(store, models, audiences)
        found = parse_segments(text, stages=STAGES, audiences=AUDIENCES)
        self.segments = Segments(found, self.engine.models, NOTIFY)
        self.timers = Timers(store)
        install(self.engine, self.timers, self.segments)

    def ingest(
        self, event_id: str, kind: str, at: float, email: str = "ana@acme.com", **kw: Any
    ) -> str:
        self.engine.ingest([EventIn(event_id, kind, at, PersonRef(email=email), **kw)], now=at)
        with self.store.engine.connect() as conn:
            return str(
                conn.scalar(sa.text("SELECT id FROM leads ORDER BY created_at DESC LIMIT 1"))
            )

    def members(self) -> set[tuple[str, str]]:
        with self.store.engine.connect() as conn:
            return {(r.segment, r.lead_id) for r in conn.execute(sa.select(segment_members))}

    def messages(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(
                conn.execute(sa.select(outbox).order_by(outbox.c.created_at, outbox.c.event_type))
            )

    def due(self, lead_id: str) -> dict[str, float]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(timers).where(timers.c.lead_id == lead_id, timers.c.status == "pending")
            )
            return {
                row.id: datetime.fromisoformat(str(row.due_at)).replace(tzinfo=UTC).timestamp()
                for row in rows
            }


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


def pricing(event_id: str, at: float, email: str = "ana@acme.com") -> EventIn:
    return EventIn(
        event_id, "web.page_view", at, PersonRef(email=email), properties={"path": "/pricing"}
    )


def test_an_event_enters_and_its_window_closing_leaves(world: World) -> None:
    lead = world.ingest("p1", "web.page_view", T0, properties={"path": "/pricing"})
    assert world.members() == {("pricing-readers", lead)}
    entered = world.messages()
    assert [m.event_type for m in entered] == ["segment.entered"]
    assert entered[0].event_id == f"segment.entered:pricing-readers:{lead}:{round(T0 * 1000)}"
    assert world.due(lead) == {
        timer_id("pricing-readers", lead): pytest.approx(T0 + 30 * DAY, abs=0.01)
    }
    assert world.timers.run(T0 + 30 * DAY - 1) == 0
    assert world.members() == {("pricing-readers", lead)}
    assert world.timers.run(T0 + 30 * DAY + 1) == 1
    assert world.members() == set()
    left = world.messages()[-1]
    assert (left.event_type, left.event_id) == (
        "segment.left",
        f"segment.left:pricing-readers:{lead}:{round(T0 * 1000)}",
    )
    assert world.due(lead) == {}  # nothing more to wait for
    assert world.timers.run(T0 + 90 * DAY) == 0


def test_a_second_event_moves_the_window_and_the_timer(world: World) -> None:
    lead = world.ingest("p1", "web.page_view", T0, properties={"path": "/pricing"})
    world.ingest("p2", "web.page_view", T0 + 10 * DAY, properties={"path": "/pricing/rpo"})
    assert world.due(lead)[timer_id("pricing-readers", lead)] == pytest.approx(
        T0 + 40 * DAY, abs=0.01
    )
    assert world.timers.run(T0 + 35 * DAY) == 0  # the old instant is gone with its row's move
    assert ("pricing-readers", lead) in world.members()
    assert world.timers.run(T0 + 41 * DAY) == 1
    assert world.members() == set()
    assert [m.event_type for m in world.messages()] == ["segment.entered", "segment.left"]


def test_messages_carry_ids_and_numbers_never_personal_data(world: World) -> None:
    lead = world.ingest(
        "p1",
        "web.page_view",
        T0,
        properties={"path": "/pricing"},
        traits={"job_title": "VP Talent", "first_name": "Ana", "last_name": "Lopez"},
    )
    (message,) = world.messages()
    assert (message.destination, message.channel, message.lead_id) == ("nurture", "webhook", lead)
    data = message.payload["data"]
    assert set(data) == {"segment", "lead_id", "audience", "score", "grade", "stage", "url"}
    assert data["segment"] == "pricing-readers"
    assert data["url"] == f"https://leadgrade.example.com/v1/leads/{lead}"
    assert (data["audience"], data["stage"], data["grade"]) == ("employer", "lead", "C4")
    assert data["score"] == 30  # VP 20 + pricing 10
    text = json.dumps(message.payload)
    for personal in ("ana@acme.com", "Ana", "Lopez", "acme.com"):
        assert personal not in text


def test_refreshing_again_changes_nothing(world: World) -> None:
    lead = world.ingest("p1", "web.page_view", T0, properties={"path": "/pricing"})
    before = (world.members(), world.due(lead), len(world.messages()))
    with world.store.transaction() as conn:
        again = world.segments.refresh(conn, [lead, lead], T0 + 60)
    assert (again.entered, again.left, again.leads) == ([], [], 1)
    with world.store.transaction() as conn:
        world.segments.refresh(conn, [lead], T0 + 120)
    world.ingest("p1", "web.page_view", T0, properties={"path": "/pricing"})  # a replay
    assert (world.members(), world.due(lead), len(world.messages())) == before
    changes = world.segments.refresh_all(world.store, T0 + 180)
    assert (changes.entered, changes.left, changes.leads) == ([], [], 1)
    assert len(world.messages()) == before[2]


def test_a_contract_end_coming_within_45_days_enters_then_the_end_leaves(world: World) -> None:
    lead = world.ingest("j1", "job.apply", T0, email="cy@mail.com")
    with world.store.transaction() as conn:
        move_stage(conn, lead, "won", "ats", "placed", T0)
        world.segments.refresh(conn, [lead], T0)  # as the handoff's listeners do
    end = T0 + 100 * DAY
    person = world.engine.identify(
        PersonRef(email="cy@mail.com"), {"contract_end": utc(end).date().isoformat()}, T0 + 60
    )
    assert person
    ends = datetime.combine(utc(end).date(), datetime.min.time(), UTC).timestamp()  # midnight
    assert world.members() == set()
    assert world.due(lead)[timer_id("contract-ending", lead)] == pytest.approx(
        ends - 45 * DAY, abs=0.01
    )
    assert world.timers.run(ends - 45 * DAY - 60) == 0
    assert world.timers.run(ends - 45 * DAY + 60) == 1
    assert world.members() == {("contract-ending", lead)}
    assert world.due(lead)[timer_id("contract-ending", lead)] == pytest.approx(ends, abs=0.01)
    assert world.timers.run(ends + 60) == 1
    assert world.members() == set()
    kinds = [(m.event_type, m.payload["data"]["stage"]) for m in world.messages()]
    assert kinds == [("segment.entered", "won"), ("segment.left", "won")]


def test_a_grade_range_follows_engagement_as_it_decays(world: World) -> None:
    # Fit 25 (VP 20 + size 5): C. A demo (+40) makes C2; it decays to C3 at once, and
    # below 20 (C4, out of the range) after 90 d · log(1/2) / log(3/4) ≈ 216.85 days.
    lead = world.ingest(
        "d1", "demo.request", T0, traits={"job_title": "VP Talent", "company_size": 60}
    )
    assert ("mid-grade", lead) in world.members()
    leaves = T0 + 90 * DAY * math.log(0.5) / math.log(0.75)
    assert world.due(lead)[timer_id("mid-grade", lead)] == pytest.approx(leaves, abs=0.01)
    world.timers.run(leaves - 60)
    assert ("mid-grade", lead) in world.members()
    world.timers.run(leaves + 60)
    assert ("mid-grade", lead) not in world.members()
    # A D-fit lead is never in it, whatever its engagement.
    other = world.ingest("d2", "demo.request", T0, email="bo@mail.com")
    assert ("mid-grade", other) not in world.members()
    assert timer_id("mid-grade", other) not in world.due(other)


def test_a_lead_another_model_version_scored_is_read_as_the_api_shows_it(world: World) -> None:
    lead = world.ingest(
        "d1", "demo.request", T0, traits={"job_title": "VP Talent", "company_size": 60}
    )
    assert ("mid-grade", lead) in world.members()  # C3
    world.engine.models["employer"] = build(model_dict(**{"fit.max": 49}))  # not rescored yet
    with world.store.transaction() as conn:
        world.segments.refresh(conn, [lead], T0 + 60)
        shown = get_lead(conn, world.engine.models, lead, T0 + 60)
    assert shown is not None
    assert shown.card.grade == "C4"  # its events are not counted until it is rescored
    assert ("mid-grade", lead) not in world.members()
    left = world.messages()[-1].payload["data"]
    assert (left["grade"], left["score"]) == ("C4", 25)


def test_a_stage_move_and_a_model_change_are_followed(world: World) -> None:
    lead = world.ingest("p1", "web.page_view", T0, properties={"path": "/pricing"})
    with world.store.transaction() as conn:
        move_stage(conn, lead, "disqualified", "jo", "competitor", T0 + 60)
        world.segments.refresh(conn, [lead], T0 + 60)
    assert ("pricing-readers", lead) in world.members()  # no stage condition
    # A segments file without the segment: its members leave on the next refresh.
    world.segments = Segments(
        parse_segments(
            SEGMENTS.split("  - id: mid-grade")[0].replace("pricing-readers", "renamed"),
            stages=STAGES,
        ),
        world.engine.models,
        NOTIFY,
    )
    changes = world.segments.refresh_all(world.store, T0 + 120)
    assert changes.left == [("pricing-readers", lead)]
    assert changes.entered == [("renamed", lead)]


def test_a_due_timer_leaves_a_lead_being_written_to_its_writer(world: World) -> None:
    """The runner holds the timer's row; a writer holding the lead's row refreshes it
    and moves that timer: waiting for the lead would deadlock the two."""
    if world.store.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: no row locks to meet")
    lead = world.ingest("p1", "web.page_view", T0, properties={"path": "/pricing"})
    fired: list[int] = []
    with world.store.engine.connect() as writer, writer.begin():
        writer.execute(sa.select(leads.c.id).where(leads.c.id == lead).with_for_update())
        running = threading.Thread(target=lambda: fired.append(world.timers.run(T0 + 31 * DAY)))
        running.start()
        running.join(timeout=20)
        assert not running.is_alive(), "the timer waited for the lead's writer"
    assert fired == [1]
    assert ("pricing-readers", lead) in world.members()  # left to the writer


def test_the_timer_runner_leaves_a_timer_its_handler_moved_later(world: World) -> None:
    lead = world.ingest("p1", "web.page_view", T0, properties={"path": "/pricing"})
    runner = Timers(world.store)

    def later(conn: sa.Connection, due: Any, now: float) -> None:
        schedule(conn, due.id, "again", now + DAY, now, lead_id=lead, replace=True)

    runner.on("again", later)
    with world.store.transaction() as conn:
        schedule(conn, "again:1", "again", T0 + 10, T0, lead_id=lead)
    assert runner.run(T0 + 20) == 1
    with world.store.engine.connect() as conn:
        row = conn.execute(sa.select(timers).where(timers.c.id == "again:1")).one()
    assert row.status == "pending"
    assert runner.run(T0 + DAY + 21) == 1


def test_refreshing_many_leads_takes_the_same_few_queries(world: World) -> None:
    batch = [pricing(f"p{i}", T0 + i, f"p{i}@corp{i % 7}.com") for i in range(60)]
    world.engine.ingest(batch, now=T0 + 100)
    with world.store.engine.connect() as conn:
        ids = list(conn.scalars(sa.text("SELECT id FROM leads ORDER BY id")))
    assert len(ids) == 60
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    def refresh(chunk: list[str], now: float) -> list[str]:
        statements.clear()
        sa.event.listen(world.store.engine, "before_cursor_execute", count)
        try:
            with world.store.transaction() as conn:
                world.segments.refresh(conn, chunk, now)
        finally:
            sa.event.remove(world.store.engine, "before_cursor_execute", count)
        return [s.split()[0].upper() for s in statements]

    # Every lead leaves (its event is out of the window): reads, then a few writes.
    few = refresh(ids[:5], T0 + 30 * DAY + 200)
    many = refresh(ids[5:], T0 + 30 * DAY + 200)
    assert few == many
    assert few.count("SELECT") == 4  # leads with people, members, timers, events
    assert world.members() == set()


# ------------------------------------------------------------- the store, at random times


@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40 * 24),  # hours after T0
            st.sampled_from(["/pricing", "/blog", "demo"]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.integers(0, 80 * 24), min_size=1, max_size=12),
)
def test_membership_in_the_store_equals_a_plain_reading_at_any_time(
    happenings: list[tuple[int, str]], looks: list[int]
) -> None:
    text = SEGMENTS + (
        "  - id: hot\n    name: Hot\n    audience: employer\n    score: {at_least: 25}\n"
        "  - id: quiet\n    name: Quiet\n    audience: employer\n"
        "    events: [{type: web.page_view, within: 7d, at_most: 0}]\n"
    )
    store = Store.memory()
    world = World(store, text)
    specs = {s.id: s.spec for s in world.segments.segments}
    inputs = []
    for i, (hour, what) in enumerate(sorted(happenings)):
        kind = "demo.request" if what == "demo" else "web.page_view"
        properties = {} if what == "demo" else {"path": what}
        inputs.append(
            EventIn(
                f"e{i}",
                kind,
                T0 + hour * 3600.0,
                PersonRef(email="ana@acme.com"),
                properties=properties,
            )
        )
    looks_at = [T0 + hour * 3600.0 + 1800 for hour in looks]
    plan = sorted(
        [(e.occurred_at, 0, i) for i, e in enumerate(inputs)] + [(at, 1, -1) for at in looks_at]
    )
    for at, what, index in plan:
        if what == 0:
            world.engine.ingest([inputs[index]], now=at)
            continue
        world.timers.run(at)
        seen = {segment for segment, _ in world.members()}
        core = [
            Event(e.id, e.type, e.occurred_at, e.properties) for e in inputs if e.occurred_at <= at
        ]
        if not core:
            assert not seen
            continue
        for segment_id, spec in specs.items():
            if spec.audience != "employer":
                continue
            expected, near = brute(spec, EMPLOYER, "lead", {"email": "ana@acme.com"}, core, at)
            if not near:
                assert (segment_id in seen) == expected, (segment_id, (at - T0) / DAY)
    store.close()


# ---------------------------------------------------------------------------- export


def test_the_csv_export_hashes_e_mails_as_ad_platforms_expect(world: World) -> None:
    world.engine.ingest(
        [pricing("p1", T0, " Ana@Acme.com "), pricing("p2", T0 + 60, "bo@corp.com")], now=T0 + 60
    )
    with world.store.engine.connect() as conn:
        found = world.segments.members(conn, "pricing-readers", T0 + 120)
    found.sort(key=lambda m: (m.entered_at, m.lead.id))
    hashed = io.StringIO()
    write_csv(found, hashed)
    rows = list(csv.DictReader(io.StringIO(hashed.getvalue())))
    assert list(rows[0]) == [
        "lead_id",
        "audience",
        "score",
        "grade",
        "stage",
        "entered_at",
        "email_sha256",
    ]
    assert sorted(r["email_sha256"] for r in rows) == sorted(
        hashlib.sha256(e.encode()).hexdigest() for e in ("ana@acme.com", "bo@corp.com")
    )
    assert email_sha256(" Ana@Acme.com ") == hashlib.sha256(b"ana@acme.com").hexdigest()
    assert {(r["audience"], r["grade"], r["stage"], r["score"]) for r in rows} == {
        ("employer", "D4", "lead", "10.00")
    }
    assert rows[0]["entered_at"] == utc(T0 + 60).isoformat().replace("+00:00", "Z")
    plain = io.StringIO()
    write_csv(found, plain, plain=True)
    assert plain.getvalue().splitlines()[0].endswith(",email")
    assert "bo@corp.com" in plain.getvalue()
    assert "acme" not in hashed.getvalue()


# ------------------------------------------------------------------------------- API

NOW = T0 + 3600


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    world.engine.ingest([pricing(f"p{i}", T0 + i, f"p{i}@corp.com") for i in range(5)], now=T0 + 10)
    application = create_app(world.engine, clock=lambda: NOW, segments=world.segments)
    with TestClient(application) as test_client:
        yield test_client


def key(client: TestClient, *scopes: str) -> dict[str, str]:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.transaction() as conn:
        _, secret = create_key(conn, "test", list(scopes), NOW)
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_lists_segments_with_member_counts(client: TestClient) -> None:
    assert client.get("/v1/segments").status_code == 401
    answer = client.get("/v1/segments", headers=key(client, "read")).json()
    assert [(s["id"], s["audience"], s["members"]) for s in answer["items"]] == [
        ("pricing-readers", "employer", 5),
        ("mid-grade", "employer", 0),
        ("contract-ending", "candidate", 0),
    ]
    assert answer["items"][0]["conditions"].startswith("employer leads; web.page_view where path")


def test_the_api_pages_members_and_names_an_unknown_segment(client: TestClient) -> None:
    reader = key(client, "read")
    seen, cursor = [], None
    while True:
        query = "?limit=2&sort=entered" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/segments/pricing-readers/members{query}", headers=reader).json()
        assert len(page["items"]) <= 2
        seen += [item["email"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == [f"p{i}@corp.com" for i in range(5)]  # each once, over 3 pages
    first = client.get("/v1/segments/pricing-readers/members", headers=reader).json()
    assert set(first["items"][0]) >= {"id", "score", "grade", "stage", "entered_at"}
    missing = client.get("/v1/segments/nope/members", headers=reader)
    assert missing.status_code == 404
    assert "no segment 'nope'" in missing.json()["detail"]
    assert "pricing-readers" in missing.json()["detail"]
    assert client.get("/v1/segments/nope/export", headers=reader).status_code == 404
    bad = client.get("/v1/segments/pricing-readers/members?sort=score&cursor=xyz", headers=reader)
    assert bad.status_code == 422


def test_the_api_exports_csv_hashed_and_plain_only_for_admins(client: TestClient) -> None:
    reader = key(client, "read")
    answer = client.get("/v1/segments/pricing-readers/export", headers=reader)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "pricing-readers.csv" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 5
    assert {r["email_sha256"] for r in rows} == {email_sha256(f"p{i}@corp.com") for i in range(5)}
    assert "@" not in answer.text
    refused = client.get("/v1/segments/pricing-readers/export?plain=true", headers=reader)
    assert refused.status_code == 403
    assert "admin" in refused.json()["detail"]
    plain = client.get(
        "/v1/segments/pricing-readers/export?plain=true", headers=key(client, "admin")
    )
    assert "p0@corp.com" in plain.text


def test_installing_again_keeps_one_and_the_app_finds_it(world: World) -> None:
    renamed = parse_segments(SEGMENTS.replace("pricing-readers", "pricing"), stages=STAGES)
    installed = install(world.engine, world.timers, Segments(renamed, world.engine.models))
    assert installed is world.segments
    assert Segments.of(world.engine) is world.segments
    assert "pricing" in world.segments.by_id
    lead = world.ingest("p1", "web.page_view", T0, properties={"path": "/pricing"})
    assert world.members() == {("pricing", lead)}
    with TestClient(create_app(world.engine, clock=lambda: NOW)) as test_client:
        answer = test_client.get("/v1/segments", headers=key(test_client, "read")).json()
    assert answer["items"][0] == {
        "id": "pricing",
        "name": "Read pricing in the last 30 days",
        "description": "",
        "audience": "employer",
        "conditions": "employer leads; web.page_view where path starts with '/pricing': "
        "at least 1 in the last 30d",
        "members": 1,
    }


def test_an_app_without_segments_lists_none(store: Store) -> None:
    engine = Engine(store, {"employer": EMPLOYER}, AudienceMap((), ("employer",)))
    with TestClient(create_app(engine, clock=lambda: NOW)) as test_client:
        answer = test_client.get("/v1/segments", headers=key(test_client, "read"))
        assert answer.json() == {"items": []}
        missing = test_client.get("/v1/segments/x/members", headers=key(test_client, "read"))
        assert missing.status_code == 404


# ------------------------------------------------------------------------------- CLI

runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def workspace(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    assert invoke("init", "firm").exit_code == 0
    return in_tmp / "firm"


def test_the_cli_lints_lists_refreshes_and_exports(workspace: Path, write: Writer) -> None:
    linted = invoke("segments", "lint", "--workspace", workspace)
    assert linted.exit_code == 0, linted.output
    assert (
        "3 segments (employer-salary-guide, contract-ending, quiet-strong-candidates)"
        in linted.stderr
    )
    today = datetime.now(UTC).date().isoformat()
    events = write(
        "events.csv",
        "id,type,occurred_at,email,asset_type,traits\n"
        f"d1,content.download,{today},vp@acme.com,salary_guide,"
        '"{""job_title"": ""VP Talent"", ""company_size"": 120, ""industry"": ""Healthcare""}"\n'
        f"w1,webinar.attend,{today},vp@acme.com,,\n"
        f"w2,webinar.attend,{today},bo@corp.com,,\n",
    )
    assert invoke("ingest", "--workspace", workspace, events).exit_code == 0
    refreshed = invoke("segments", "refresh", "--workspace", workspace)
    assert refreshed.exit_code == 0, refreshed.output
    assert "2 leads evaluated: 0 entered, 0 left" in refreshed.stderr  # ingest kept them
    listed = invoke("segments", "list", "--workspace", workspace, "-f", "jsonl")
    records = {r["id"]: r["members"] for r in map(json.loads, listed.stdout.splitlines())}
    assert records == {
        "employer-salary-guide": 1,  # B3: fit 39, a guide and a webinar (25 points)
        "contract-ending": 0,
        "quiet-strong-candidates": 0,
    }
    shown = invoke(
        "segments", "members", "employer-salary-guide", "--workspace", workspace, "-f", "jsonl"
    )
    assert shown.exit_code == 0
    (member,) = map(json.loads, shown.stdout.splitlines())
    assert (member["email"], member["grade"]) == ("vp@acme.com", "B3")
    out = workspace / "export.csv"
    exported = invoke(
        "segments", "export", "employer-salary-guide", "-o", out, "--workspace", workspace
    )
    assert exported.exit_code == 0, exported.output
    lines = out.read_text().splitlines()
    assert lines[0] == "lead_id,audience,score,grade,stage,entered_at,email_sha256"
    assert lines[1].endswith("," + email_sha256("vp@acme.com"))
    plain = invoke(
        "segments", "export", "employer-salary-guide", "--plain", "--workspace", workspace
    )
    assert plain.stdout.splitlines()[1].endswith(",vp@acme.com")
    assert invoke("segments", "export", "nope", "--workspace", workspace).exit_code == 2
    assert (
        invoke("segments", "members", "x", "--sort", "age", "--workspace", workspace).exit_code == 2
    )


def test_the_cli_refuses_a_bad_segments_file(workspace: Path) -> None:
    (workspace / "segments.yaml").write_text(
        "segments:\n  - id: near\n    name: Near\n    audience: candidate\n"
        "    attributes:\n      zip_code: {prefix: '750'}\n"
    )
    linted = invoke("segments", "lint", workspace / "segments.yaml")
    assert linted.exit_code == 1
    assert (
        "segments.yaml:6: segments[0].attributes.zip_code: the attribute 'zip_code'"
        in linted.stderr
    )
    listed = invoke("segments", "list", "--workspace", workspace)
    assert listed.exit_code == 2
    assert "zip_code" in listed.stderr
    assert "leadgrade segments lint" in listed.stderr


# ------------------------------------------------------------------------------ docs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "segments.md"


def test_every_key_of_the_file_is_documented() -> None:
    from leadgrade.core.segments import SCHEMA

    text = DOCS.read_text()
    missing = [
        f"{model.__name__}.{field.alias or name}"
        for model in SCHEMA
        for name, field in model.model_fields.items()
        if f"`{field.alias or name}`" not in text
    ]
    assert not missing


def test_the_docs_examples_load_or_fail_as_shown(
    shipped_models: dict[str, Model], template_lists: dict[str, tuple[str, ...]]
) -> None:
    """The shipped file is the docs' first example; the draft fails with every problem
    shown, in two rounds: the shape first, then what needs the workspace."""
    import re

    from leadgrade.workspace import TEMPLATE

    blocks = re.findall(r"^```(\w*)\n(.*?)^```", DOCS.read_text(), re.MULTILINE | re.DOTALL)
    examples = [(i, body) for i, (kind, body) in enumerate(blocks) if kind == "yaml"]
    shipped = (Path(str(TEMPLATE)) / "segments.yaml").read_text()
    assert examples[0][1] == shipped[shipped.index("segments:\n") :]  # less its comments
    audiences = {a: m.kind for a, m in shipped_models.items()}
    index, draft = examples[1]
    first, second = blocks[index + 1][1], blocks[index + 2][1]
    _, problems = check_segments(draft, "segments.yaml", stages=STAGES, audiences=audiences)
    assert [str(p) for p in problems] == [
        line for line in first.splitlines() if line.startswith("segments.yaml:")
    ]
    fixed = draft.replace("B5", "B4").replace(", older_than_days: 10", "")
    _, problems = check_segments(fixed, "segments.yaml", stages=STAGES, audiences=audiences)
    assert [str(p) for p in problems] == [
        line for line in second.splitlines() if line.startswith("segments.yaml:")
    ]
