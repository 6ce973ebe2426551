from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from leadgrade.core import score
from leadgrade.core.scoring import Event
from leadgrade.engine import (
    AudienceMap,
    AudienceRule,
    Engine,
    EventIn,
    LeadBecameMQL,
    PeopleMerged,
    PersonRef,
)
from leadgrade.store import Store
from leadgrade.store.schema import events, leads, people, stage_changes
from leadgrade.times import epoch
from tests.conftest import DAY, T0

AUDIENCES = AudienceMap(
    rules=(
        AudienceRule(
            "candidate",
            types=("job.*", "assessment.*"),
            path_prefixes=("/jobs",),
            forms=("talent_community",),
        ),
    ),
    default=("employer",),
)


@pytest.fixture
def engine(store: Store, shipped_models) -> Engine:
    return Engine(store, shipped_models, AUDIENCES)


def view(event_id: str, at: float, email: str = "ana@acme.com", path: str = "/pricing") -> EventIn:
    return EventIn(event_id, "web.page_view", at, PersonRef(email=email), properties={"path": path})


def lead_rows(engine: Engine) -> list[sa.Row]:  # type: ignore[type-arg]
    with engine.store.engine.connect() as conn:
        return list(conn.execute(sa.select(leads).order_by(leads.c.audience)).all())


def test_an_event_creates_a_person_and_a_scored_lead(engine: Engine) -> None:
    result = engine.ingest([view("e1", T0)], now=T0)
    assert (result.accepted, result.duplicates, result.leads_scored) == (1, 0, 1)
    (lead,) = lead_rows(engine)
    assert (lead.audience, lead.stage, lead.score, lead.engagement) == ("employer", "lead", 10, 10)
    assert lead.fit == 0
    with engine.store.engine.connect() as conn:
        person = conn.execute(sa.select(people)).one()
        assert person.attributes == {"email": "ana@acme.com"}
        history = conn.execute(sa.select(stage_changes)).all()
    assert [(h.from_stage, h.to_stage, h.actor) for h in history] == [(None, "lead", "engine")]


def test_a_replay_changes_nothing(engine: Engine) -> None:
    batch = [view(f"e{i}", T0 + i * 3600) for i in range(5)]
    engine.ingest(batch, now=T0 + DAY)
    before = lead_rows(engine)
    again = engine.ingest([*batch, batch[0]], now=T0 + DAY)
    assert (again.accepted, again.duplicates) == (0, 6)
    assert lead_rows(engine) == before


def test_ten_thousand_events_twice_shuffled_leave_every_score_identical(engine: Engine) -> None:
    """Done-when of the engine issue: post 10,000 events, then the same shuffled: no change."""
    rng = random.Random(7)
    kinds = [
        ("web.page_view", {"path": "/pricing"}),
        ("web.page_view", {"path": "/services/x"}),
        ("content.download", {"asset_type": "salary_guide"}),
        ("email.click", {}),
        ("form.submit", {"form": "consultation"}),
        ("job.apply", {}),
        ("web.page_view", {"path": "/jobs/12"}),
    ]
    batch = []
    for n in range(10_000):
        kind, props = rng.choice(kinds)
        batch.append(
            EventIn(
                f"ev{n}",
                kind,
                T0 + rng.uniform(0, 90 * DAY),
                PersonRef(email=f"p{rng.randrange(300)}@corp{rng.randrange(40)}.com"),
                properties=props,
            )
        )
    now = T0 + 91 * DAY
    for start in range(0, len(batch), 1000):
        engine.ingest(batch[start : start + 1000], now=now)
    first = {(r.person_id, r.audience): (r.score, r.grade, r.stage) for r in lead_rows(engine)}
    shuffled = list(batch)
    rng.shuffle(shuffled)
    for start in range(0, len(shuffled), 1000):
        result = engine.ingest(shuffled[start : start + 1000], now=now)
        assert result.accepted == 0
    second = {(r.person_id, r.audience): (r.score, r.grade, r.stage) for r in lead_rows(engine)}
    assert second == first
    assert len(first) > 300  # both audiences scored


def test_out_of_order_events_score_as_in_order_ones(
    store: Store,
    shipped_models,
) -> None:
    rng = random.Random(3)
    batch = [view(f"e{i}", T0 + rng.uniform(0, 60 * DAY)) for i in range(40)]
    batch += [
        EventIn(
            f"d{i}", "demo.request", T0 + rng.uniform(0, 60 * DAY), PersonRef(email="ana@acme.com")
        )
        for i in range(3)
    ]
    ordered = sorted(batch, key=lambda e: e.occurred_at)
    shuffled = list(batch)
    rng.shuffle(shuffled)
    now = T0 + 61 * DAY
    in_order = Engine(Store.memory(), shipped_models, AUDIENCES)
    for event in ordered:
        in_order.ingest([event], now=now)
    late = Engine(store, shipped_models, AUDIENCES)
    for event in shuffled:
        late.ingest([event], now=now)
    (a,), (b,) = lead_rows(in_order), lead_rows(late)
    assert b.score == pytest.approx(a.score, rel=1e-12)
    expected = score(
        shipped_models["employer"],
        {"email": "ana@acme.com"},
        [Event(e.id, e.type, e.occurred_at, e.properties) for e in batch],
        now,
    )
    assert b.score == pytest.approx(expected.score, rel=1e-12)


def test_audiences_follow_the_mapping_and_an_event_names_its_own(engine: Engine) -> None:
    engine.ingest(
        [
            EventIn("a", "job.apply", T0, PersonRef(email="cy@mail.com")),
            view("b", T0, email="cy@mail.com", path="/jobs/12"),
            view("c", T0, email="cy@mail.com", path="/pricing"),
            EventIn("d", "email.click", T0, PersonRef(email="cy@mail.com"), audience="candidate"),
        ],
        now=T0,
    )
    with engine.store.engine.connect() as conn:
        filed = dict(conn.execute(sa.select(events.c.id, events.c.audiences)).all())
    assert filed == {"a": ["candidate"], "b": ["candidate"], "c": ["employer"], "d": ["candidate"]}
    assert [r.audience for r in lead_rows(engine)] == ["candidate", "employer"]


def test_anonymous_activity_counts_once_the_visitor_identifies(engine: Engine) -> None:
    anonymous = [
        EventIn(
            f"v{i}",
            "web.page_view",
            T0 + i * 60,
            PersonRef(anonymous_id="anon-7"),
            properties={"path": "/pricing"},
        )
        for i in range(3)
    ]
    engine.ingest(anonymous, now=T0 + 600)
    engine.ingest(
        [
            EventIn(
                "d1",
                "demo.request",
                T0 + 900,
                PersonRef(email="bo@acme.com"),
                traits={"job_title": "VP Talent"},
            )
        ],
        now=T0 + 900,
    )
    identify = EventIn(
        "f1",
        "form.submit",
        T0 + 1000,
        PersonRef(email="bo@acme.com", anonymous_id="anon-7"),
        properties={"form": "newsletter"},
    )
    result = engine.ingest([identify], now=T0 + 1000)
    # The pricing views, now counted, lift Bo's demo request over the MQL threshold.
    assert [type(e) for e in result.domain_events] == [PeopleMerged, LeadBecameMQL]
    (lead,) = lead_rows(engine)
    model = engine.models["employer"]
    assert lead.engagement == pytest.approx(
        score(
            model,
            {},
            [
                *(Event(e.id, e.type, e.occurred_at, e.properties) for e in anonymous),
                Event("d1", "demo.request", T0 + 900),
            ],
            T0 + 1000,
        ).engagement
    )
    assert lead.fit == 20  # the identified person's title, kept through the merge
    with engine.store.engine.connect() as conn:
        owners = set(conn.scalars(sa.select(events.c.person_id)))
    assert owners == {lead.person_id}


def test_a_lead_becomes_an_mql_once_with_a_history_row(engine: Engine) -> None:
    ref = PersonRef(email="vp@acme.com")
    traits = {"job_title": "VP Talent Acquisition", "company_size": "800", "industry": "Software"}
    first = engine.ingest(
        [EventIn("t", "form.submit", T0, ref, traits=traits, properties={"form": "consultation"})],
        now=T0,
    )
    assert [type(e) for e in first.domain_events] == [LeadBecameMQL]
    became = first.domain_events[0]
    assert isinstance(became, LeadBecameMQL)
    assert became.score >= 65
    second = engine.ingest([view("p", T0 + 60, email="vp@acme.com")], now=T0 + 60)
    assert second.domain_events == []
    (lead,) = lead_rows(engine)
    assert lead.stage == "mql"
    with engine.store.engine.connect() as conn:
        history = conn.execute(sa.select(stage_changes).order_by(stage_changes.c.id)).all()
    assert [(h.from_stage, h.to_stage) for h in history] == [(None, "lead"), ("lead", "mql")]
    assert "score ≥ 65" in history[1].reason


def test_an_event_without_a_person_is_refused_and_nothing_is_stored(engine: Engine) -> None:
    with pytest.raises(ValueError, match="names no person"):
        engine.ingest([view("ok", T0), EventIn("bad", "web.page_view", T0, PersonRef())], now=T0)
    assert lead_rows(engine) == []


def test_an_mql_expires_at_the_closed_form_crossing_time(engine: Engine) -> None:
    import math

    from leadgrade.engine import MQLExpired

    ref = PersonRef(email="tm@acme.com")
    traits = {"job_title": "Talent Manager", "company_size": "100"}  # fit 6 + 8 + 9 = 23
    engine.ingest(
        [
            EventIn(
                "c", "form.submit", T0, ref, traits=traits, properties={"form": "consultation"}
            ),
            EventIn("d", "demo.request", T0, ref),
        ],
        now=T0,
    )
    (lead,) = lead_rows(engine)
    assert (lead.stage, lead.fit, lead.engagement) == ("mql", 23, 80)
    # 23 + 80·2^(−Δ/h) = 45  ⇔  Δ = h·log2(80/22)
    model = engine.models["employer"]
    due = T0 + model.half_life * math.log2(80 / 22)
    assert epoch(lead.mql_expires_at) == pytest.approx(due, abs=1e-3)
    assert engine.tick(due - 60) == []
    expired = engine.tick(due + 1)
    assert [type(e) for e in expired] == [MQLExpired]
    assert expired[0].at == pytest.approx(due, abs=1e-3)
    assert engine.tick(due + 2) == []  # nothing twice
    (lead,) = lead_rows(engine)
    assert (lead.stage, lead.mql_expires_at) == ("recycled", None)
    with engine.store.engine.connect() as conn:
        last = conn.execute(sa.select(stage_changes).order_by(stage_changes.c.id.desc())).first()
    assert (last.from_stage, last.to_stage) == ("mql", "recycled")
    assert "fell below 45" in last.reason


def test_new_engagement_pushes_the_expiry_back(engine: Engine) -> None:
    ref = PersonRef(email="tm@acme.com")
    traits = {"job_title": "Talent Manager", "company_size": "100"}
    engine.ingest(
        [
            EventIn(
                "c", "form.submit", T0, ref, traits=traits, properties={"form": "consultation"}
            ),
            EventIn("d", "demo.request", T0, ref),
        ],
        now=T0,
    )
    (before,) = lead_rows(engine)
    engine.ingest([EventIn("d2", "demo.request", T0 + 100 * DAY, ref)], now=T0 + 100 * DAY)
    (after,) = lead_rows(engine)
    assert after.mql_expires_at > before.mql_expires_at
    assert (
        engine.tick(
            before.mql_expires_at.timestamp() + 1
            if before.mql_expires_at.tzinfo
            else before.mql_expires_at.replace(tzinfo=__import__("datetime").UTC).timestamp() + 1
        )
        == []
    )


def test_two_people_met_and_merged_within_one_batch(engine: Engine) -> None:
    engine.ingest(
        [
            EventIn(
                "a1",
                "web.page_view",
                T0,
                PersonRef(anonymous_id="anon-9"),
                properties={"path": "/pricing"},
            ),
            EventIn("e1", "demo.request", T0 + 60, PersonRef(email="jo@acme.com")),
            EventIn(
                "f1",
                "form.submit",
                T0 + 120,
                PersonRef(email="jo@acme.com", anonymous_id="anon-9"),
                properties={"form": "newsletter"},
            ),
            EventIn(
                "a2",
                "web.page_view",
                T0 + 180,
                PersonRef(anonymous_id="anon-9"),
                properties={"path": "/pricing"},
            ),
        ],
        now=T0 + 200,
    )
    (lead,) = lead_rows(engine)
    with engine.store.engine.connect() as conn:
        owners = set(conn.scalars(sa.select(events.c.person_id)))
        alive = conn.execute(sa.select(people).where(people.c.merged_into.is_(None))).all()
    assert owners == {lead.person_id}
    assert [p.id for p in alive] == [lead.person_id]
    assert lead.engagement == pytest.approx(
        score(
            engine.models["employer"],
            {},
            [
                Event("a1", "web.page_view", T0, {"path": "/pricing"}),
                Event("e1", "demo.request", T0 + 60),
                Event("a2", "web.page_view", T0 + 180, {"path": "/pricing"}),
            ],
            T0 + 200,
        ).engagement
    )


def test_a_merge_keeps_both_leads_histories(engine: Engine) -> None:
    engine.ingest([EventIn("v1", "web.page_view", T0, PersonRef(anonymous_id="anon-9"))], now=T0)
    engine.ingest([view("k1", T0 + 10, email="cy@acme.com")], now=T0 + 10)
    engine.ingest(
        [
            EventIn(
                "f1", "email.click", T0 + 20, PersonRef(email="cy@acme.com", anonymous_id="anon-9")
            )
        ],
        now=T0 + 20,
    )
    (lead,) = lead_rows(engine)
    with engine.store.engine.connect() as conn:
        history = conn.execute(sa.select(stage_changes.c.lead_id, stage_changes.c.to_stage)).all()
    assert history == [(lead.id, "lead"), (lead.id, "lead")]  # one row from each lead


def test_person_events_make_no_lead_but_refit_every_lead_of_the_person(engine: Engine) -> None:
    ref = PersonRef(email="di@acme.com")
    engine.ingest(
        [
            EventIn("w1", "web.page_view", T0, ref, properties={"path": "/pricing"}),
            EventIn("j1", "job.apply", T0, ref),
        ],
        now=T0,
    )
    before = {lead.audience: lead for lead in lead_rows(engine)}
    assert set(before) == {"employer", "candidate"}
    engine.ingest(
        [EventIn("i1", "person.identify", T0 + 60, ref, traits={"job_title": "VP Talent"})],
        now=T0 + 60,
    )
    after = {lead.audience: lead for lead in lead_rows(engine)}
    assert set(after) == {"employer", "candidate"}  # no new lead for the identify
    assert after["employer"].fit > before["employer"].fit  # refitted from the new title
    assert after["candidate"].updated_at > before["candidate"].updated_at  # refitted too
    with engine.store.engine.connect() as conn:
        (row,) = conn.execute(sa.select(events).where(events.c.id == "i1")).all()
    assert row.audiences == []
    nobody = engine.ingest(
        [EventIn("i2", "person.identify", T0, PersonRef(email="new@acme.com"))], now=T0
    )
    assert (nobody.accepted, nobody.leads_scored) == (1, 0)
    assert len(lead_rows(engine)) == 2


def test_a_recycled_lead_must_cross_the_threshold_anew(engine: Engine) -> None:
    from leadgrade.leads import move_stage

    ref = PersonRef(email="vp@acme.com")
    demo = EventIn("m1", "demo.request", T0, ref)
    views = [view(f"m{i}", T0 + i, email="vp@acme.com") for i in (2, 3, 7)]
    engine.ingest([demo, *views], now=T0 + 10)
    (lead,) = lead_rows(engine)
    assert lead.stage == "mql"
    assert lead.score == pytest.approx(70, abs=0.01)  # 40 + three pricing views
    with engine.store.transaction() as conn:
        move_stage(conn, lead.id, "recycled", "sales", "not hiring this quarter", T0 + 60)
    # Still above the threshold when sales recycled it: one more view is not a new MQL.
    again = engine.ingest([view("m4", T0 + DAY, email="vp@acme.com")], now=T0 + DAY)
    assert not [e for e in again.domain_events if isinstance(e, LeadBecameMQL)]
    assert lead_rows(engine)[0].stage == "recycled"
    # A year later the score has decayed below the threshold; a new demo request crosses it.
    later = T0 + 365 * DAY
    engine.ingest(
        [
            EventIn("m5", "demo.request", later, ref),
            *(view(f"m{i}", later + i, email="vp@acme.com") for i in (6, 8)),
        ],
        now=later + 10,
    )
    assert lead_rows(engine)[0].stage == "mql"


def test_a_writer_that_loses_a_race_for_a_new_person_retries(engine: Engine) -> None:
    """Another writer created the person between this batch's lookup and its insert:
    the batch's transaction fails on the identity, rolls back, and runs again."""
    engine.ingest([view("r1", T0, email="race@acme.com")], now=T0)
    stale = [True]
    known = engine._known_identities

    def stale_once(conn, batch):  # type: ignore[no-untyped-def]
        if stale[0]:
            stale[0] = False
            return {}  # as if the other writer's commit came after this lookup
        return known(conn, batch)

    engine._known_identities = stale_once  # type: ignore[method-assign]
    result = engine.ingest([view("r2", T0 + 60, email="race@acme.com")], now=T0 + 60)
    assert (result.accepted, result.duplicates) == (1, 0)
    with engine.store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(people)) == 1
    (lead,) = lead_rows(engine)
    assert lead.engagement == pytest.approx(20, abs=0.01)  # both views, one person
