from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadgrade.cli import app
from leadgrade.sample import AS_OF
from tests.conftest import Writer

runner = CliRunner()
AS_OF_TEXT = "2026-10-01T00:00:00Z"


def invoke(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def workspace(in_tmp: Path) -> Path:
    result = invoke("init", "firm", "--name", 'Acme "Staffing"')
    assert result.exit_code == 0, result.output
    return in_tmp / "firm"


@pytest.fixture
def demo(in_tmp: Path) -> Path:
    result = invoke("demo", "demo-ws", "--batch", "--top", "5")
    assert result.exit_code == 0, result.output
    return in_tmp / "demo-ws"


def test_init_writes_a_workspace_with_two_models(workspace: Path) -> None:
    assert (workspace / "leadgrade.toml").read_text().count('name = "Acme \\"Staffing\\""') == 1
    assert {p.name for p in (workspace / "models").iterdir()} == {"employer.yaml", "candidate.yaml"}
    assert (workspace / "lists" / "free_email_domains.txt").read_text().count("gmail.com") == 1


def test_init_refuses_to_overwrite(workspace: Path) -> None:
    result = invoke("init", workspace)
    assert result.exit_code == 2
    assert "already holds a workspace" in result.stderr


def test_lint_passes_the_shipped_models(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)
    result = invoke("lint")
    assert result.exit_code == 0, result.output
    assert "employer (employer), 7 fit rules, 11 engagement rules" in result.stderr
    assert "candidate (candidate), 3 fit rules, 8 engagement rules" in result.stderr


@pytest.mark.parametrize(
    ("audience", "field", "guardrail"),
    [
        ("employer", "date_of_birth", "(age)"),
        ("employer", "gender", "(sex and gender)"),
        ("candidate", "zip", "(postal code (proxy for race and national origin))"),
    ],
)
def test_lint_refuses_protected_attributes(
    workspace: Path, audience: str, field: str, guardrail: str
) -> None:
    path = workspace / "models" / f"{audience}.yaml"
    text = path.read_text()
    anchor = "field: job_title" if audience == "employer" else "field: state"
    path.write_text(text.replace(anchor, f"field: {field}", 1))
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if f"field: {field}" in t)
    result = invoke("lint", path)
    assert result.exit_code == 1
    assert f"{path}:{line}: fit.rules[" in result.stderr
    assert f"guardrail 'protected attributes never score' {guardrail}" in result.stderr
    scored = invoke("score", "--model", path, "--leads", path)  # score refuses it too
    assert scored.exit_code == 2
    assert "the model does not load" in scored.stderr


def test_lint_reports_every_file(workspace: Path, write: Writer) -> None:
    bad = write("bad.yaml", "audience: employer\nfit: {max: 10, rulez: []}\n")
    result = invoke("lint", workspace / "models" / "employer.yaml", bad)
    assert result.exit_code == 1
    assert "bad.yaml:2: fit.rulez: unknown key 'rulez'; did you mean 'rules'?" in result.stderr
    assert "bad.yaml: invalid" in result.stderr
    assert "employer.yaml: employer" in result.stderr


def test_lint_outside_a_workspace_needs_files(in_tmp: Path) -> None:
    result = invoke("lint")
    assert result.exit_code == 2
    assert "run `leadgrade init`" in result.stderr


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_score_writes_csv_with_grades_and_reasons(demo: Path) -> None:
    data = demo / "data"
    result = invoke(
        "score",
        "--workspace",
        demo,
        "-m",
        "employer",
        "--leads",
        data / "employer_leads.csv",
        "--events",
        data / "employer_events.csv",
        "--as-of",
        AS_OF_TEXT,
        "--format",
        "csv",
    )
    assert result.exit_code == 0, result.stderr
    rows = read_csv(result.stdout)
    assert len(rows) == 250
    assert list(rows[0]) == [
        "id",
        "audience",
        "fit",
        "engagement",
        "score",
        "grade",
        "mql",
        "reasons",
    ]
    for row in rows:
        assert float(row["score"]) == pytest.approx(float(row["fit"]) + float(row["engagement"]))
        assert row["grade"][0] in "ABCD"
        assert row["grade"][1] in "1234"
        assert (row["mql"] == "true") == (float(row["score"]) >= 65)
    assert "employer: 250 leads, 1,049 events read" in result.stderr
    # the demo wrote the same scores
    assert read_csv((data / "employer_scores.csv").read_text())[0]["score"] == rows[0]["score"]


def test_the_sample_scores_can_be_checked_by_hand(demo: Path) -> None:
    """Done-when: the scores on the bundled sample follow from the model file and the
    explanation. Recompute a lead's engagement from the raw events with plain arithmetic."""
    data = demo / "data"
    out = demo / "scores.jsonl"
    result = invoke(
        "score",
        "--workspace",
        demo,
        "-m",
        "employer",
        "--leads",
        data / "employer_leads.csv",
        "--events",
        data / "employer_events.csv",
        "--as-of",
        AS_OF_TEXT,
        "-o",
        out,
    )
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    events = read_csv((data / "employer_events.csv").read_text())
    at = AS_OF.timestamp()
    checked = 0
    for record in records:
        points = [c["points"] for c in record["explanation"]]
        assert round(sum(points), 2) == record["score"]  # shown parts add up to the score
        for line in record["explanation"]:
            if line["rule"] != "consultation-request":
                continue
            # 40 points per request, no cap, decaying 25% per 90 days
            mine = [
                e
                for e in events
                if e["lead_id"] == record["id"]
                and e["type"] == "form.submit"
                and e["form"] in ("consultation", "request_proposal", "job_order")
            ]
            by_hand = sum(
                40
                * 0.75
                ** ((at - datetime.fromisoformat(e["occurred_at"]).timestamp()) / (90 * 86400))
                for e in mine
            )
            assert line["points"] == pytest.approx(by_hand, abs=0.01)
            assert set(line["event_ids"]) == {e["id"] for e in mine}
            checked += 1
    assert checked >= 5


def test_score_prints_a_table_and_the_grade_grid(demo: Path) -> None:
    data = demo / "data"
    result = invoke(
        "score",
        "--workspace",
        demo,
        "-m",
        "candidate",
        "--leads",
        data / "candidate_leads.csv",
        "--events",
        data / "candidate_events.csv",
        "--as-of",
        AS_OF_TEXT,
        "--limit",
        "3",
    )
    assert result.exit_code == 0, result.stderr
    assert "candidate leads by score (top 3 of 350" in result.stdout
    assert "leads per grade" in result.stdout
    assert "MQL" in result.stdout


def test_a_bad_row_stops_with_exit_2_naming_file_line_and_column(
    workspace: Path, write: Writer
) -> None:
    leads = write("leads.csv", "id,job_title\nL1,VP\n")
    events = write(
        "events.csv",
        "id,lead_id,type,occurred_at\n"
        "e1,L1,demo.request,2026-09-01\n"
        "e2,L1,demo.request,last tuesday\n"
        "e3,L1,demo.request,2026-09-03\n",
    )
    args = [
        "score",
        "--workspace",
        workspace,
        "-m",
        "employer",
        "--leads",
        leads,
        "--events",
        events,
        "--as-of",
        AS_OF_TEXT,
        "-f",
        "csv",
    ]
    result = invoke(*args)
    assert result.exit_code == 2
    assert (
        f"{events}:3: column 'occurred_at': 'last tuesday' is not an ISO 8601 time" in result.stderr
    )
    assert result.stdout == ""
    skipped = invoke(*args, "--skip-bad-rows")
    assert skipped.exit_code == 0, skipped.stderr
    assert f"skipped {events}:3:" in skipped.stderr
    assert "1 bad row skipped; 1 MQL;" in skipped.stderr
    assert "demo-request +" in read_csv(skipped.stdout)[0]["reasons"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--as-of", "soon"], "--as-of 'soon' is not an ISO 8601 time"),
        (["-o", "out.txt"], "cannot tell the format from '.txt'"),
        (["-o", "out.csv", "-f", "table"], "--format table prints to the terminal"),
        (["-m", "nobody"], "'nobody' is neither a model file nor an audience"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    workspace: Path, write: Writer, extra: list[str], message: str
) -> None:
    leads = write("leads.csv", "id\nL1\n")
    args = ["score", "--workspace", workspace, "-m", "employer", "--leads", leads, *extra]
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_model_file_outside_a_workspace_finds_lists_beside_it(
    in_tmp: Path, write: Writer
) -> None:
    invoke("init", "ws")
    model = in_tmp / "ws" / "models" / "employer.yaml"
    leads = write("leads.csv", "id,email\nL1,jo@gmail.com\n")
    result = invoke("score", "-m", model, "--leads", leads, "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["reasons"] == ["free-email -10.00"]
    assert (
        record["explanation"][0]["reason"]
        == "email_domain 'gmail.com' is in list 'free_email_domains'"
    )


def test_the_batch_demo_prints_both_grids(in_tmp: Path) -> None:
    result = invoke("demo", "ws", "--batch", "--top", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("leads per grade (A–D fit × 1–4 engagement)") == 2
    assert "employer leads by score (top 3 of 250" in result.stdout
    assert "MQLs" in result.stdout
    again = invoke("demo", "ws", "--batch", "--top", "3")  # reuses the workspace
    assert again.exit_code == 0


def test_the_console_script_and_module_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "leadgrade", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    for command in ("init", "demo", "lint", "score"):
        assert command in result.stdout
    assert math.isfinite(AS_OF.timestamp())


def test_every_command_and_option_has_help_text() -> None:
    import typer.main

    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help, f"command {name} has no help"
        for param in command.params:
            if param.name != "help":
                assert getattr(param, "help", None), f"{name} {param.name} has no help"


def test_a_bad_header_stops_without_suggesting_to_skip_rows(workspace: Path, write: Writer) -> None:
    leads = write("leads.csv", "id\nL1\n")
    events = write("events.csv", "id,lead,type,occurred_at\ne1,L1,demo.request,2026-09-01\n")
    result = invoke(
        "score", "--workspace", workspace, "-m", "employer", "--leads", leads, "--events", events
    )
    assert result.exit_code == 2
    assert f"{events}:1: column 'lead_id': the header has no such column" in result.stderr
    assert "--skip-bad-rows" not in result.stderr
