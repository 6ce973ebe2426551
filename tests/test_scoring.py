from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from leadgrade.core import EngagementState, Event, Model, score, score_reaches
from leadgrade.core.decay import reaches
from leadgrade.core.scoring import engagement_reaches, engagement_totals
from tests.conftest import DAY, T0, build, model_dict
from tests.strategies import attributes, event_lists, models

DECAY_90 = 0.75  # what a point keeps after 90 days in the base model (lose 25% per 90d)


def f(days: float) -> float:
    return DECAY_90 ** (days / 90)


def view(event_id: str, at: float, path: str = "/pricing") -> Event:
    return Event(event_id, "web.page_view", at, {"path": path})


LEAD = {"job_title": "VP Talent", "company_size": "250", "email_domain": "gmail.com"}


def by_rule(card) -> dict[str, float]:
    return {c.rule_id: c.points for c in card.contributions}


def test_fit_adds_the_rules_that_hold(base_model: Model) -> None:
    card = score(base_model, LEAD, [], T0)
    assert by_rule(card) == {"title": 20, "size": 15, "free-email": -10}
    assert card.fit == 25
    assert card.engagement == 0
    assert card.score == 25
    assert card.grade == "C4"
    assert not card.mql
    reasons = {c.rule_id: c.reason for c in card.contributions}
    assert reasons["title"] == r"job_title 'VP Talent' matches /(?i)\bvp\b/"
    assert reasons["size"] == "company_size '250' is at least 200"


def test_engagement_decays_continuously(base_model: Model) -> None:
    events = [Event("d1", "demo.request", T0)]
    assert score(base_model, {}, events, T0).engagement == 40
    assert score(base_model, {}, events, T0 + 90 * DAY).engagement == pytest.approx(30)
    assert score(base_model, {}, events, T0 + 180 * DAY).engagement == pytest.approx(22.5)
    assert score(base_model, {}, events, T0 + 45 * DAY).engagement == pytest.approx(40 * f(45))


def test_a_cap_counts_the_first_events_of_each_window(base_model: Model) -> None:
    # T0 lies 21.9 days into a 30-day window counted from the epoch; the window ends at
    # 1_780_704_000, so T0 + 8d is in the same window and T0 + 9d in the next.
    assert math.floor(T0 / (30 * DAY)) == math.floor((T0 + 8 * DAY) / (30 * DAY))
    assert math.floor((T0 + 9 * DAY) / (30 * DAY)) == math.floor(T0 / (30 * DAY)) + 1
    events = [view(f"v{i}", T0 + i * DAY) for i in range(5)] + [view("late", T0 + 9 * DAY)]
    at = T0 + 9 * DAY
    card = score(base_model, {}, events, at)
    (pricing,) = [c for c in card.contributions if c.rule_id == "pricing"]
    expected = 10 * (f(9) + f(8) + f(7)) + 10 * f(0)  # v0..v2 in the first window, late in the next
    assert pricing.points == pytest.approx(expected)
    assert pricing.events == 4
    assert pricing.event_ids == ("late", "v2", "v1", "v0")


def test_a_late_event_takes_its_place_in_the_cap(base_model: Model) -> None:
    on_time = [view(f"v{i}", T0 + i * DAY) for i in range(1, 4)]
    late = view("early-but-late", T0)
    state = EngagementState()
    for event in (*on_time, late):
        state.add(base_model, event)
    at = T0 + 5 * DAY
    totals = state.totals(base_model, at)[0]
    assert totals.value == pytest.approx(10 * (f(5) + f(4) + f(3)))
    assert totals.event_ids == ("v2", "v1", "early-but-late")


def test_once_and_no_decay(base_model: Model) -> None:
    events = [Event("u1", "email.unsubscribe", T0), Event("u2", "email.unsubscribe", T0 + DAY)]
    card = score(base_model, {}, events, T0 + 1000 * DAY)
    assert by_rule(card)["unsub"] == -20
    (unsub,) = [c for c in card.contributions if c.rule_id == "unsub"]
    assert unsub.event_ids == ("u1",)


def test_clipping_shows_as_a_contribution_and_the_explanation_sums_exactly() -> None:
    model = build(model_dict(**{"fit.max": 30, "engagement.max": 50}))
    events = [Event(f"d{i}", "demo.request", T0 + i) for i in range(3)]
    card = score(model, LEAD | {"email_domain": "acme.com"}, events, T0 + 10)
    points = by_rule(card)
    assert points["fit.max"] == pytest.approx(-5)  # 20 + 15 = 35, capped at 30
    assert points["engagement.max"] == pytest.approx(
        50 - 40 * 3 * model.decay_rate * 0 - 120, abs=1e-3
    )
    assert card.fit == 30
    assert card.engagement == pytest.approx(50)
    assert math.fsum(c.points for c in card.contributions) == card.score
    assert [c.rule_id for c in card.reasons(2)] == ["demo", "title"]


def test_events_after_the_as_of_time_are_left_out(base_model: Model) -> None:
    events = [Event("d1", "demo.request", T0), Event("d2", "demo.request", T0 + DAY)]
    assert score(base_model, {}, events, T0).engagement == 40


def test_reading_a_state_before_its_newest_event_is_refused(base_model: Model) -> None:
    state = EngagementState()
    state.add(base_model, Event("d1", "demo.request", T0))
    with pytest.raises(ValueError, match="before its newest event"):
        state.totals(base_model, T0 - 1)


def test_mql_and_the_closed_form_expiry_time(base_model: Model) -> None:
    state = EngagementState()
    state.add(base_model, Event("d1", "demo.request", T0))
    fit = score(base_model, LEAD, [], T0).fit  # 25
    card = state.scorecard(base_model, LEAD, T0)
    assert (card.score, card.mql) == (65, True)
    # Expires when 25 + 40·2^(−Δ/h) falls to 45: Δ = h·log2(40/20) = one half-life.
    when = score_reaches(base_model, state, fit, 45, after=T0)
    assert when == pytest.approx(T0 + base_model.half_life)
    assert state.scorecard(base_model, LEAD, when).score == pytest.approx(45)
    assert state.scorecard(base_model, LEAD, when - 60).score > 45
    assert score_reaches(base_model, state, fit, 45, after=when + 1) is None  # already past
    assert score_reaches(base_model, state, fit, 200, after=T0) is None  # never that high
    assert score_reaches(base_model, state, fit, 20, after=T0) is None  # tends to 25 > 20


def test_crossing_upwards_and_the_non_decaying_part() -> None:
    # −10 decaying towards a static 5: E(t) = 5 − 10·exp(−λt) rises through 0 at one half-life.
    rate = math.log(2) / DAY
    assert reaches(-10, 5, T0, rate, 0) == pytest.approx(T0 + DAY)
    assert reaches(-10, 5, T0, rate, -5) == T0
    assert reaches(-10, 5, T0, rate, 5) is None
    assert reaches(10, 0, T0, 0.0, 5) is None


# ------------------------------------------------------------------------- properties


@given(models(), attributes, event_lists(), st.randoms(use_true_random=False))
def test_incremental_equals_full_recompute_in_any_order(model, attrs, events, random) -> None:
    assume(len({e.id for e in events}) == len(events))
    at = max((e.at for e in events), default=T0) + 3 * DAY
    full = score(model, attrs, events, at)
    shuffled = list(events)
    random.shuffle(shuffled)
    state = EngagementState()
    for event in shuffled:
        state.add(model, event)
    incremental = state.scorecard(model, attrs, at)
    assert incremental.score == pytest.approx(full.score, rel=1e-9, abs=1e-9)
    assert len(incremental.contributions) == len(full.contributions)
    for mine, theirs in zip(incremental.contributions, full.contributions, strict=True):
        assert (mine.rule_id, mine.events, mine.event_ids) == (
            theirs.rule_id,
            theirs.events,
            theirs.event_ids,
        )
        assert mine.points == pytest.approx(theirs.points, rel=1e-9, abs=1e-9)
    assert math.fsum(c.points for c in full.contributions) == full.score
    assert math.fsum(c.points for c in incremental.contributions) == incremental.score


@given(models(), attributes, event_lists())
def test_scores_are_bounded_and_caps_hold(model, attrs, events) -> None:
    assume(len({e.id for e in events}) == len(events))
    at = max((e.at for e in events), default=T0)
    card = score(model, attrs, events, at)
    assert card.fit <= model.fit_max + 1e-9
    if model.fit_min is not None:
        assert card.fit >= model.fit_min - 1e-9
    assert card.engagement <= model.engagement_max + 1e-9
    totals = engagement_totals(
        model,
        [(r.index, e.at, e.id) for e in events for r in model.fed_by(e.type, e.properties)],
        at,
    )
    for index, total in totals.items():
        rule = model.engagement_rules[index]
        if rule.cap is not None and rule.window is None:
            assert abs(total.value) <= rule.cap + 1e-9  # decay only shrinks what was allowed
        if rule.limit is not None:
            assert total.events <= rule.limit * max(1, len(events))


@given(models(), event_lists())
def test_without_new_events_positive_engagement_only_decays(model, events) -> None:
    assume(all(r.points > 0 for r in model.engagement_rules))
    assume(len({e.id for e in events}) == len(events))
    at = max((e.at for e in events), default=T0)
    values = [score(model, {}, events, at + days * DAY).engagement for days in (0, 1, 10, 100)]
    assert values == sorted(values, reverse=True)
    assert all(v >= 0 for v in values)


@given(models(), event_lists(), st.floats(0.5, 60))
def test_the_crossing_time_is_when_engagement_reaches_the_level(model, events, level) -> None:
    assume(len({e.id for e in events}) == len(events))
    assume(model.half_life is not None)
    state = EngagementState()
    for event in events:
        state.add(model, event)
    assume(state.as_of is not None)
    when = engagement_reaches(model, state, level, after=state.as_of)
    decaying, static = state.split(model)
    raw_now = decaying + static
    if when is None:
        return
    assert when >= state.as_of
    raw_then = static + decaying * math.exp(-model.decay_rate * (when - state.as_of))
    assert raw_then == pytest.approx(level, rel=1e-9, abs=1e-6)
    assert (raw_now - level) * (decaying) >= -1e-9  # it was heading towards the level


@given(models(), event_lists(), st.integers(0, 40))
def test_a_stored_state_goes_on_as_if_it_never_left(model, events, split) -> None:
    """Store the state half-way (as JSON, as the engine does), load it, add the rest:
    the same as keeping it in memory throughout."""
    import json

    assume(len({e.id for e in events}) == len(events))
    first, rest = events[:split], events[split:]
    kept, stored = EngagementState(), EngagementState()
    for event in first:
        kept.add(model, event)
        stored.add(model, event)
    loaded = EngagementState.from_dict(model, json.loads(json.dumps(stored.to_dict(model))))
    for event in rest:
        kept.add(model, event)
        loaded.add(model, event)
    at = max((e.at for e in events), default=T0) + DAY
    assert loaded.as_of == kept.as_of
    assert loaded.totals(model, at) == kept.totals(model, at)


@given(models(), attributes, event_lists(), st.floats(0, 400))
def test_the_engines_numbers_are_the_scorecards_bit_for_bit(model, attrs, events, days) -> None:
    from leadgrade.core.scoring import numbers

    assume(len({e.id for e in events}) == len(events))
    state = EngagementState()
    for event in events:
        state.add(model, event)
    at = (state.as_of or T0) + days * DAY
    card = state.scorecard(model, attrs, at)
    lean = numbers(model, attrs, state, at)
    assert (lean.fit, lean.engagement, lean.score, lean.grade, lean.mql) == (
        card.fit,
        card.engagement,
        card.score,
        card.grade,
        card.mql,
    )
