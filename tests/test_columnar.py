"""The DuckDB reader against the row reader: the same matches, counts and scores, and
the row reader's exact errors whenever the fast path cannot vouch for a file."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadgrade.batch.columnar import collect_columnar, read_leads_columnar
from leadgrade.batch.files import BadRow, read_lead_table
from leadgrade.batch.score import score_files
from leadgrade.cli.output import write_csv, write_csv_file
from leadgrade.sample import AS_OF
from tests.conftest import Writer

AT = AS_OF.timestamp()
TYPES = [
    "web.page_view",
    "content.download",
    "form.submit",
    "demo.request",
    "email.click",
    "email.open",
    "email.unsubscribe",
    "webinar.attend",
]
PATHS = ["/pricing", "/PRICING/x", "/services/rpo", "/about", "", " /pricing"]
TIMES = [
    "2026-09-01T10:00:00Z",
    "2026-09-01 10:00:00",
    "2026-09-01",
    "2026-09-20T23:59:59.5Z",
    "2026-09-30T10:00:00-05:00",
    "2026-10-01T00:00:00Z",
    "2026-10-02T00:00:00Z",
    "2026-08-15T08:30Z",
]


@st.composite
def event_files(draw: st.DrawFn) -> tuple[str, str]:
    leads = ["L1", "L2", "L3", " L4"]
    rows = []
    for n in range(draw(st.integers(0, 60))):
        rows.append(
            {
                "id": f"e{n}",
                "lead_id": draw(st.sampled_from([*leads, "L9"])),
                "type": draw(st.sampled_from(TYPES)),
                "occurred_at": draw(st.sampled_from(TIMES)),
                "path": draw(st.sampled_from(PATHS)),
                "asset_type": draw(st.sampled_from(["salary_guide", "ebook", "", "SALARY_GUIDE"])),
                "form": draw(st.sampled_from(["consultation", "job_order", "", "newsletter"])),
            }
        )
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        ["id", "lead_id", "type", "occurred_at", "path", "asset_type", "form"],
        lineterminator="\n",
    )
    writer.writeheader()
    writer.writerows(rows)
    leads_text = (
        "id,job_title,email\nL1,VP Talent,a@gmail.com\nL2,,b@acme.com\nL3,Clerk,\n"
        " L4 ,Director,d@x.io\n"
    )
    return leads_text, out.getvalue()


@settings(max_examples=40)  # each example runs DuckDB twice
@given(event_files())
def test_the_column_reader_scores_as_the_row_reader_does(files: tuple[str, str]) -> None:
    model = _employer()
    with tempfile.TemporaryDirectory() as folder:
        leads, events = Path(folder) / "leads.csv", Path(folder) / "events.csv"
        leads.write_text(files[0])
        events.write_text(files[1])
        assert collect_columnar(model, events, {"L1": 0}, AT) is not None
        assert read_leads_columnar(leads) is not None
        fast, fast_stats = score_files(model, leads, events, AT, with_event_ids=True)
        slow, slow_stats = score_files(
            model, leads, events, AT, with_event_ids=True, columnar=False
        )
        assert fast_stats == slow_stats
        assert fast.lead_ids == slow.lead_ids == ["L1", "L2", "L3", "L4"]
        assert fast.score == pytest.approx(slow.score, rel=1e-12, abs=1e-12)
        assert fast.grade == slow.grade
        assert fast.mql == slow.mql
        for row in range(len(fast)):
            mine, theirs = fast.scorecard(row), slow.scorecard(row)
            assert [(c.rule_id, c.events, c.event_ids) for c in mine.contributions] == [
                (c.rule_id, c.events, c.event_ids) for c in theirs.contributions
            ]
        text = io.StringIO()
        write_csv(slow, text, 3)
        out = Path(folder) / "out.csv"
        write_csv_file(fast, out, 3)
        assert out.read_text() == text.getvalue()


_MODELS: dict[str, object] = {}


def _employer():  # type: ignore[no-untyped-def]
    if "employer" not in _MODELS:
        from leadgrade.workspace import TEMPLATE, load_model, read_lists

        root = Path(str(TEMPLATE))
        _MODELS["employer"] = load_model(
            root / "models" / "employer.yaml", read_lists(root / "lists")
        )
    return _MODELS["employer"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            "id,lead_id,type,occurred_at\ne1,L1,demo.request,2026-09-01\ne1,L1,demo.request,2026-09-01\n",
            "a replayed id: the row reader keeps the first in file order",
        ),
        (
            "id,lead_id,type,occurred_at\ne1,L1,demo.request,2026-09-01T10\n",
            "a time only Python reads",
        ),
        ("id,lead_id,type,occurred_at\ne1,L1,demo.request,yesterday\n", "a bad time"),
        ("id,lead_id,type,occurred_at\ne1,,demo.request,2026-09-01\n", "a missing lead id"),
        ("id,lead_id,type,occurred_at\ne1,L1,demo.request\n", "a short row"),
        (
            "id,lead_id,type,occurred_at,properties\ne1,L1,demo.request,2026-09-01,{}\n",
            "a JSON properties column",
        ),
        ("id,lead,type,occurred_at\n", "no lead_id column"),
        ("", "an empty file"),
    ],
)
def test_the_row_reader_takes_over_when_the_column_reader_cannot_vouch(
    write: Writer, text: str, why: str
) -> None:
    events = write("events.csv", text)
    assert collect_columnar(_employer(), events, {"L1": 0}, AT) is None, why


def test_errors_are_the_row_readers_whatever_the_path(write: Writer) -> None:
    leads = write("leads.csv", "id\nL1\n")
    events = write(
        "events.csv",
        "id,lead_id,type,occurred_at\ne1,L1,demo.request,2026-09-01\n"
        "e2,L1,demo.request,2026-13-01\n",
    )
    with pytest.raises(BadRow, match=r"events.csv:3: column 'occurred_at': '2026-13-01'"):
        score_files(_employer(), leads, events, AT)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,title\nL1,VP\n,CEO\n", "leads.csv:3: column 'id': the lead id is missing"),
        ("id,title\nL1,VP\n L1 ,CEO\n", "leads.csv:3: column 'id': lead 'L1' appears twice"),
        ("id,title\nL1,VP,x\n", "leads.csv:2: has 3 fields"),
    ],
)
def test_bad_leads_fall_back_to_the_row_reader(write: Writer, text: str, message: str) -> None:
    path = write("leads.csv", text)
    assert read_leads_columnar(path) is None
    with pytest.raises(BadRow, match=message):
        read_lead_table(path)


def test_leads_read_by_columns_equal_leads_read_by_rows(write: Writer) -> None:
    path = write("leads.csv", "Lead ID,Job Title,Email\nL1,VP,a@Acme.com\n L2 ,,\n")
    fast, slow = read_leads_columnar(path, "Lead ID"), read_lead_table(path, "Lead ID")
    assert fast is not None
    assert fast.ids == slow.ids == ["L1", "L2"]
    for name in ("job_title", "email", "email_domain", "missing"):
        assert fast.column(name) == slow.column(name), name
    assert [fast.attributes(i) for i in range(2)] == [slow.attributes(i) for i in range(2)]
