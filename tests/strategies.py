"""Hypothesis strategies: models, leads and events that exercise every scoring feature."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

from leadgrade.core import Event, Model, parse_model
from tests.conftest import DAY, T0

EVENT_TYPES = ("web.page_view", "form.submit", "email.click")
PROPERTY_VALUES = ("/pricing", "/pricing/rpo", "/about", "consultation", "")

points = st.one_of(
    st.integers(-20, 40).filter(bool),
    st.floats(-20, 40, allow_nan=False).filter(lambda p: abs(p) > 0.01).map(lambda p: round(p, 2)),
)

where = st.one_of(
    st.just({}),
    st.sampled_from(PROPERTY_VALUES[:4]).map(lambda v: {"p": v}),
    st.just({"p": {"prefix": "/pricing"}}),
    st.just({"p": ["consultation", "/about"]}),
    st.just({"p": {"exists": False}}),
)


@st.composite
def engagement_rules(draw: st.DrawFn) -> list[dict[str, Any]]:
    rules = []
    for index in range(draw(st.integers(1, 5))):
        rule: dict[str, Any] = {
            "id": f"rule-{index}",
            "event": draw(st.sampled_from(EVENT_TYPES)),
            "points": draw(points),
        }
        filters = draw(where)
        if filters:
            rule["where"] = filters
        limit = draw(st.sampled_from(["none", "cap", "window", "once"]))
        if limit == "cap":
            rule["cap"] = {"points": draw(st.integers(1, 60))}
        elif limit == "window":
            rule["cap"] = {
                "points": draw(st.integers(1, 60)),
                "per": draw(st.sampled_from(["1h", "1d", "7d"])),
            }
        elif limit == "once":
            rule["once"] = True
        if not draw(st.booleans()):
            rule["decays"] = False
        rules.append(rule)
    return rules


@st.composite
def models(draw: st.DrawFn) -> Model:
    engagement: dict[str, Any] = {
        "max": draw(st.sampled_from([30, 100, 1000])),
        "rules": draw(engagement_rules()),
    }
    decay = draw(
        st.sampled_from(
            [None, {"half_life": "1d"}, {"half_life": "7d"}, {"per": "90d", "lose": "25%"}]
        )
    )
    if decay is not None:
        engagement["decay"] = decay
    data = {
        "audience": "employer",
        "fit": {
            "max": draw(st.sampled_from([10, 30, 50])),
            "min": draw(st.sampled_from([None, -5])),
            "rules": [
                {
                    "id": "title",
                    "field": "title",
                    "cases": [
                        {"matches": "(?i)vp", "points": draw(points)},
                        {"exists": True, "points": draw(points)},
                    ],
                },
                {
                    "id": "size",
                    "field": "size",
                    "bins": [
                        {"at_most": 49, "points": 1},
                        {"between": [50, 500], "points": draw(points)},
                    ],
                },
            ],
        },
        "engagement": engagement,
        "grades": {"fit": {"A": 20, "B": 10, "C": 5}, "engagement": {"1": 30, "2": 15, "3": 5}},
        "mql": {"when": {"score_at_least": draw(st.sampled_from([10, 40]))}},
    }
    if data["fit"]["min"] is None:
        del data["fit"]["min"]
    return parse_model(yaml.safe_dump(data), "generated.yaml", {})


attributes = st.fixed_dictionaries(
    {
        "title": st.sampled_from(["VP Sales", "Clerk", "", "vp"]),
        "size": st.sampled_from(["10", "120", "5000", "", "n/a"]),
    }
)


@st.composite
def event_lists(draw: st.DrawFn, max_size: int = 40) -> list[Event]:
    count = draw(st.integers(0, max_size))
    # A narrow clock makes ties (same second) and shared cap windows common.
    offsets = draw(
        st.lists(
            st.sampled_from([0, 1, 60, 3600, DAY - 1, DAY, 3 * DAY, 8 * DAY])
            | st.integers(0, int(20 * DAY)),
            min_size=count,
            max_size=count,
        )
    )
    events = []
    for index, offset in enumerate(offsets):
        properties = {}
        value = draw(st.sampled_from(PROPERTY_VALUES))
        if value:
            properties["p"] = value
        events.append(
            Event(
                id=draw(st.sampled_from([f"e{index:03d}", f"z{index}", f"a-{index}"])),
                type=draw(st.sampled_from(EVENT_TYPES)),
                at=T0 + offset,
                properties=properties,
            )
        )
    return events
