from __future__ import annotations

from pathlib import Path

import pytest

from leadgrade.batch.files import BadRow, Counter, read_events, read_leads
from leadgrade.batch.score import score_files
from leadgrade.core import Event, score
from leadgrade.sample import AS_OF
from tests.conftest import Writer

EVENTS = """\
id,lead_id,type,occurred_at,path,form
e1,L1,web.page_view,2026-09-01T10:00:00Z,/pricing,
e2,L1,form.submit,2026-09-02T10:00:00+02:00,,consultation
e3,L2,email.open,2026-09-03,,
"""


def test_leads_columns_become_snake_case_attributes(write: Writer) -> None:
    path = write("leads.csv", "Lead ID,Job Title,Email,Company Size\nL1,VP Talent,a@Acme.COM,120\n")
    leads = read_leads(path, "Lead ID")
    assert leads == {
        "L1": {
            "lead_id": "L1",
            "job_title": "VP Talent",
            "email": "a@Acme.COM",
            "company_size": "120",
            "email_domain": "acme.com",
        }
    }


def test_json_keys_are_attribute_names_as_csv_headers_are(write: Writer) -> None:
    leads = write("leads.jsonl", '{"LeadId": "L1", "jobTitle": "VP", "Company Size": 50}\n')
    assert read_leads(leads, "LeadId") == {
        "L1": {"lead_id": "L1", "job_title": "VP", "company_size": 50}
    }
    events = write(
        "events.jsonl",
        '{"id": "e1", "leadId": "L1", "Type": "t", "occurredAt": "2026-09-01", '
        '"properties": {"assetType": "ebook"}}\n',
    )
    (event,) = read_events(events)
    assert event[1:4] == ("e1", "L1", "t")
    assert event[5] == {"asset_type": "ebook"}


def test_a_bad_file_is_named_without_a_line(tmp_path: Path) -> None:
    bad = BadRow(str(tmp_path / "leads.txt"), 0, "", "unknown file type; use .csv or .jsonl")
    assert str(bad) == f"{tmp_path / 'leads.txt'}: unknown file type; use .csv or .jsonl"
    assert not bad.skippable
    assert BadRow("x.csv", 7, "id", "is missing").skippable


def test_leads_in_json_lines(write: Writer) -> None:
    path = write(
        "leads.jsonl", '{"id": 7, "company_size": 120}\n\n{"id": "8", "email_domain": "x.io"}\n'
    )
    assert read_leads(path) == {
        "7": {"id": 7, "company_size": 120},
        "8": {"id": "8", "email_domain": "x.io"},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,title\n,VP\n", "leads.csv:2: column 'id': the lead id is missing"),
        (
            "id,title\nL1,VP\nL1,CEO\n",
            "leads.csv:3: column 'id': lead 'L1' appears twice (first on line 2)",
        ),
        ("id,title\nL1,VP,extra\n", "leads.csv:2: has 3 fields, the header 2"),
    ],
)
def test_bad_lead_rows_name_the_line(write: Writer, text: str, message: str) -> None:
    with pytest.raises(BadRow) as caught:
        read_leads(write("leads.csv", text))
    assert str(caught.value).endswith(message)
    skipped: list[BadRow] = []
    read_leads(write("leads.csv", text), on_bad=skipped.append)
    assert [str(b) for b in skipped] == [str(caught.value)]


def test_events_from_csv_with_extra_columns_as_properties(write: Writer) -> None:
    events = list(read_events(write("events.csv", EVENTS)))
    assert [(line, i, lead, kind) for line, i, lead, kind, _, _ in events] == [
        (2, "e1", "L1", "web.page_view"),
        (3, "e2", "L1", "form.submit"),
        (4, "e3", "L2", "email.open"),
    ]
    assert events[0][4] == 1788256800.0  # 2026-09-01T10:00:00Z
    assert events[1][4] == 1788256800.0 + 86400 - 7200  # +02:00
    assert events[2][4] == 1788393600.0  # a date alone is midnight UTC
    assert dict(events[0][5]) == {"path": "/pricing"}
    assert events[1][5].get("form") == "consultation"
    assert events[1][5].get("path") is None


def test_a_type_filter_skips_rows_but_counts_them(write: Writer) -> None:
    counter = Counter()
    events = list(read_events(write("events.csv", EVENTS), types={"form.submit"}, counter=counter))
    assert [e[1] for e in events] == ["e2"]
    assert counter.rows == 3


def test_a_json_properties_column_wins_over_columns(write: Writer) -> None:
    text = (
        "id,lead_id,type,occurred_at,path,properties\n"
        'e1,L1,web.page_view,2026-09-01,/a,"{""path"": ""/b"", ""n"": 2}"\n'
    )
    (event,) = read_events(write("events.csv", text))
    assert event[5].get("path") == "/b"
    assert dict(event[5]) == {"path": "/b", "n": 2}


def test_events_in_json_lines(write: Writer) -> None:
    text = (
        '{"id": "e1", "lead_id": "L1", "type": "demo.request", '
        '"occurred_at": "2026-09-01T00:00:00Z", "properties": {"form": "x"}, "channel": "paid"}\n'
    )
    (event,) = read_events(write("events.jsonl", text))
    assert event[1:4] == ("e1", "L1", "demo.request")
    assert event[5] == {"form": "x", "channel": "paid"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (",L1,web.page_view,2026-09-01", "events.csv:2: column 'id': is missing"),
        ("e1,,web.page_view,2026-09-01", "events.csv:2: column 'lead_id': is missing"),
        ("e1,L1,,2026-09-01", "events.csv:2: column 'type': is missing"),
        (
            "e1,L1,web.page_view,yesterday",
            "events.csv:2: column 'occurred_at': 'yesterday' is not an ISO 8601 time",
        ),
        ("e1,L1,web.page_view,", "events.csv:2: column 'occurred_at': is missing"),
        ("e1,L1,web.page_view", "events.csv:2: has 3 fields, the header 4"),
    ],
)
def test_bad_event_rows_name_line_and_column(write: Writer, row: str, message: str) -> None:
    path = write(
        "events.csv", f"id,lead_id,type,occurred_at\n{row}\ne2,L1,demo.request,2026-09-02\n"
    )
    with pytest.raises(BadRow) as caught:
        list(read_events(path))
    assert message in str(caught.value)
    skipped: list[BadRow] = []
    good = list(read_events(path, on_bad=skipped.append))
    assert [e[1] for e in good] == ["e2"]  # the bad row is skipped, the rest is read
    assert len(skipped) == 1


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "events.csv",
            "id,lead,type,occurred_at\n",
            "column 'lead_id': the header has no such column",
        ),
        ("events.jsonl", "not json\n", "events.jsonl:1: not valid JSON"),
        ("events.jsonl", "[1, 2]\n", "events.jsonl:1: each line must be a JSON object"),
        (
            "events.jsonl",
            '{"id": "e", "lead_id": "L", "type": "t", "occurred_at": "2026-01-01", '
            '"properties": 3}\n',
            "column 'properties': must be a JSON object",
        ),
        ("events.txt", "", "unknown file type"),
    ],
)
def test_unreadable_event_files(write: Writer, name: str, text: str, message: str) -> None:
    with pytest.raises(BadRow, match=message):
        list(read_events(write(name, text)))


def test_a_bad_json_properties_cell_is_found_when_a_rule_reads_it(
    write: Writer, shipped_models
) -> None:
    leads = write("leads.csv", "id\nL1\n")
    events = write(
        "events.csv",
        "id,lead_id,type,occurred_at,properties\n"
        "e1,L1,web.page_view,2026-09-01,{bad\n"
        "e2,L1,demo.request,2026-09-01,\n",
    )
    model = shipped_models["employer"]
    with pytest.raises(BadRow, match=r"events.csv:2: column 'properties': not valid JSON"):
        score_files(model, leads, events, AS_OF.timestamp())
    skipped: list[BadRow] = []
    table, stats = score_files(model, leads, events, AS_OF.timestamp(), on_bad=skipped.append)
    assert len(skipped) == 1
    assert stats.bad_rows == 1
    assert table.scorecard(0).contributions[-1].rule_id == "demo-request"


def test_score_files_counts_replays_unknown_leads_and_future_events(
    write: Writer, shipped_models
) -> None:
    model = shipped_models["employer"]
    leads = write("leads.csv", "id,job_title\nL1,VP Talent\nL2,Clerk\n")
    events = write(
        "events.csv",
        "id,lead_id,type,occurred_at,form\n"
        "e1,L1,demo.request,2026-09-01,\n"
        "e1,L1,demo.request,2026-09-01,\n"  # a replay
        "e2,L9,demo.request,2026-09-01,\n"  # not in the leads file
        "e3,L2,demo.request,2026-12-01,\n"  # after the as-of time
        "e4,L2,email.open,2026-09-01,\n"  # no rule scores it
        "e5,L2,form.submit,2026-09-01,consultation\n",
    )
    table, stats = score_files(model, leads, events, AS_OF.timestamp())
    assert (stats.leads, stats.events, stats.matched) == (2, 6, 2)
    assert (stats.duplicates, stats.unknown_lead, stats.future) == (1, 1, 1)
    assert "1 replayed event id ignored" in stats.summary()
    at = AS_OF.timestamp()
    expected = score(
        model,
        {"id": "L1", "job_title": "VP Talent"},
        [Event("e1", "demo.request", 1788220800.0)],
        at,
    )
    assert table.score[0] == expected.score
    assert table.scorecard(1).contributions[-1].rule_id == "consultation-request"


def test_a_missing_file_is_a_bad_row(tmp_path: Path) -> None:
    with pytest.raises(BadRow, match="cannot be read"):
        read_leads(tmp_path / "nope.csv")


def test_progress_is_reported_in_bytes_read(write: Writer) -> None:
    rows = "".join(f"e{i},L1,web.page_view,2026-09-01T00:00:00Z\n" for i in range(20_000))
    path = write("events.csv", "id,lead_id,type,occurred_at\n" + rows)
    seen: list[int] = []
    assert sum(1 for _ in read_events(path, progress=seen.append)) == 20_000
    assert seen == sorted(seen)
    assert len(seen) >= 3
    assert seen[-1] == path.stat().st_size


def test_csv_properties_keys_are_attribute_names_too(write: Writer) -> None:
    text = (
        "id,lead_id,type,occurred_at,properties\n"
        'e1,L1,content.download,2026-09-01,"{""assetType"": ""salary_guide""}"\n'
    )
    (event,) = read_events(write("events.csv", text))
    assert event[5].get("asset_type") == "salary_guide"
