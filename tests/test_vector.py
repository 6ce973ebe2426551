"""The column-wise batch path against the per-lead core: the same numbers, to the bit
where the definitions allow and to 1e-9 where summation order differs."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from leadgrade.batch.files import LeadTable
from leadgrade.batch.vector import MatchColumns, score_table
from leadgrade.cli.output import explanation_record, rows, shown
from leadgrade.core import score
from tests.conftest import DAY, T0
from tests.strategies import attributes, event_lists, models


def columns_of(model, leads_events) -> MatchColumns:
    columns = MatchColumns()
    for lead, events in enumerate(leads_events):
        for event in events:
            for rule in model.fed_by(event.type, event.properties):
                columns.lead.append(lead)
                columns.rule.append(rule.index)
                columns.at.append(event.at)
                columns.event_id.append(event.id)
    return columns


AT = T0 + 25 * DAY
LEADS = st.lists(st.tuples(attributes, event_lists(max_size=25)), min_size=1, max_size=6)


def table_of(model, leads, at):  # type: ignore[no-untyped-def]
    """The batch path's table for generated (attributes, events) leads."""
    for _, events in leads:
        assume(len({e.id for e in events}) == len(events))
    return score_table(
        model,
        LeadTable.of({f"L{i}": a for i, (a, _) in enumerate(leads)}),
        columns_of(model, [e for _, e in leads]),
        at,
        with_event_ids=True,
    )


@given(models(), LEADS)
def test_the_batch_path_scores_as_the_core_does(model, leads) -> None:
    table = table_of(model, leads, AT)
    for row, (attrs, events) in enumerate(leads):
        core = score(model, attrs, events, AT)
        batch = table.scorecard(row)
        assert table.score[row] == pytest.approx(core.score, rel=1e-9, abs=1e-9)
        assert table.fit[row] == core.fit  # fit is summed the same way in both paths
        assert table.engagement[row] == pytest.approx(core.engagement, rel=1e-9, abs=1e-9)
        assert [(c.rule_id, c.events, c.event_ids) for c in batch.contributions] == [
            (c.rule_id, c.events, c.event_ids) for c in core.contributions
        ]
        for mine, theirs in zip(batch.contributions, core.contributions, strict=True):
            assert mine.points == pytest.approx(theirs.points, rel=1e-9, abs=1e-9)
        margin = 1e-6
        thresholds = (5, 10, 15, 20, 30)
        if all(
            abs(core.fit - t) > margin and abs(core.engagement - t) > margin for t in thresholds
        ):
            assert table.grade[row] == core.grade
        if abs(core.score - model.mql.score_at_least) > margin:  # type: ignore[operator]
            assert table.mql[row] == core.mql
        assert math.fsum(table.points[row]) == table.score[row]


@given(models(), LEADS)
def test_shown_rows_match_the_shown_explanation(model, leads) -> None:
    table = table_of(model, leads, AT)
    for row, line in enumerate(rows(table, reasons=3)):
        card = table.scorecard(row)
        record = explanation_record(line.id, card, 3)
        assert (line.fit, line.engagement, line.score) == (
            record["fit"],
            record["engagement"],
            record["score"],
        )
        assert line.reasons == record["reasons"]
        shown_points = [p for _, p in shown(card)]
        assert round(sum(shown_points), 2) == line.score  # shown parts add up to the shown score


def test_an_empty_file_and_a_model_without_engagement_rules() -> None:
    from tests.conftest import build, model_dict

    data = model_dict()
    data["engagement"]["rules"] = []
    model = build(data)
    table = score_table(model, LeadTable.of({"a": {"job_title": "VP"}}), MatchColumns(), T0)
    assert table.score == [20.0]
    assert next(iter(rows(table, 3))).reasons == ["title +20.00"]
    empty = score_table(model, LeadTable.of({}), MatchColumns(), T0)
    assert len(empty) == 0
    assert list(rows(empty, 3)) == []
