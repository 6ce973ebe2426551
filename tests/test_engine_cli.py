from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadgrade.cli import app
from leadgrade.settings import get_settings
from tests.conftest import Writer

runner = CliRunner()

EVENTS = (
    "id,type,occurred_at,email,anonymous_id,path,form,traits\n"
    "v1,web.page_view,2026-11-20T10:00:00Z,,anon-1,/pricing,,\n"
    "v2,web.page_view,2026-11-20T10:05:00Z,,anon-1,/pricing/rpo,,\n"
    "f1,form.submit,2026-11-20T10:10:00Z,vp@acme.com,anon-1,,consultation,"
    '"{""job_title"": ""VP Talent"", ""company_size"": 800}"\n'
    'j1,job.apply,2026-11-21T09:00:00Z,cy@mail.com,,,,"{""job_category"": ""Nursing""}"\n'
)


def invoke(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def workspace(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    result = invoke("init", "firm")
    assert result.exit_code == 0, result.output
    assert (in_tmp / "firm" / "leadgrade.db").is_file()  # init makes the store
    return in_tmp / "firm"


def test_ingest_then_list_leads(workspace: Path, write: Writer) -> None:
    events = write("events.csv", EVENTS)
    first = invoke("ingest", "--workspace", workspace, events)
    assert first.exit_code == 0, first.output
    assert "4 events stored, 0 replays ignored, 1 new MQL" in first.stderr
    again = invoke("ingest", "--workspace", workspace, events)
    assert "0 events stored, 4 replays ignored, 0 new MQLs" in again.stderr
    listed = invoke("leads", "--workspace", workspace, "-f", "jsonl")
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["email"], r["audience"], r["stage"]) for r in records] == [
        ("vp@acme.com", "employer", "mql"),
        ("cy@mail.com", "candidate", "lead"),
    ]
    assert records[0]["fit"] == 35  # VP 12 + talent 8 + size 15: the traits of the form
    mqls = invoke("leads", "--workspace", workspace, "--stage", "mql", "-f", "csv")
    assert mqls.stdout.count("\n") == 2  # the header and one lead
    assert "vp@acme.com" in invoke("leads", "--workspace", workspace).stdout


def test_a_bad_row_stops_the_import_with_its_line(workspace: Path, write: Writer) -> None:
    events = write("events.csv", "id,type,occurred_at,email\ne1,web.page_view,2026-11-20,\n")
    result = invoke("ingest", "--workspace", workspace, events)
    assert result.exit_code == 2
    assert f"{events}:2: column 'email': the event names no person" in result.stderr
    skipped = invoke("ingest", "--workspace", workspace, "--skip-bad-rows", events)
    assert skipped.exit_code == 0
    assert "1 bad row skipped" in skipped.stderr


def test_a_bad_stage_is_refused(workspace: Path) -> None:
    result = invoke("leads", "--workspace", workspace, "--stage", "hot")
    assert result.exit_code == 2
    assert "'hot' is not a stage" in result.stderr


def test_settings_come_from_the_file_and_the_environment(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings(workspace / "leadgrade.toml")
    assert settings.database.url == "sqlite:///leadgrade.db"
    assert settings.events.rules[0].audience == "candidate"
    monkeypatch.setenv("LEADGRADE_DATABASE_URL", "sqlite:///other.db")
    monkeypatch.setenv("LEADGRADE_WORKSPACE_NAME", "Env Staffing")
    settings = get_settings(workspace / "leadgrade.toml")
    assert settings.database.url == "sqlite:///other.db"
    assert settings.workspace.name == "Env Staffing"


def test_keys_create_list_revoke(workspace: Path) -> None:
    created = invoke(
        "keys", "create", "--workspace", workspace, "--name", "site", "--scope", "ingest"
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("lg_")
    key_id = secret.split("_")[1]
    listed = invoke("keys", "list", "--workspace", workspace)
    assert f"{key_id}\tsite\tingest\tactive" in listed.stdout
    assert secret.split("_", 2)[2] not in listed.stdout  # secrets are never shown again
    assert invoke("keys", "revoke", "--workspace", workspace, key_id).exit_code == 0
    assert "revoked" in invoke("keys", "list", "--workspace", workspace).stdout
    again = invoke("keys", "revoke", "--workspace", workspace, key_id)
    assert again.exit_code == 2
    bad = invoke("keys", "create", "--workspace", workspace, "--name", "x", "--scope", "root")
    assert bad.exit_code == 2
    assert "scopes must be some of" in bad.stderr


def test_serve_answers_over_http(workspace: Path) -> None:
    """The real server on a loopback port: an event in, its lead out."""
    import socket
    import subprocess
    import sys
    import time

    import httpx2 as httpx

    secret = invoke(
        "keys", "create", "--workspace", workspace, "--name", "t", "--scope", "admin"
    ).stdout.strip()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leadgrade",
            "serve",
            "--workspace",
            str(workspace),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {secret}"}
        posted = httpx.post(
            f"{base}/v1/events",
            headers=headers,
            json={
                "id": "h1",
                "type": "demo.request",
                "occurred_at": "2026-11-20T10:00:00Z",
                "email": "dee@acme.com",
            },
        )
        assert posted.json() == {"accepted": 1, "duplicates": 0, "refused": 0, "valid": 1}
        items = httpx.get(f"{base}/v1/leads", headers=headers).json()["items"]
        assert [(i["email"], i["audience"]) for i in items] == [("dee@acme.com", "employer")]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_tick_expires_due_mqls(workspace: Path, write: Writer) -> None:
    from datetime import UTC, datetime, timedelta

    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    events = write(
        "events.csv",
        (
            "id,type,occurred_at,email,form,traits\n"
            f"c,form.submit,{yesterday},tm@acme.com,consultation,"
            '"{""job_title"": ""Talent Manager"", ""company_size"": 100}"\n'
            f"d,demo.request,{yesterday},tm@acme.com,,\n"
        ),
    )
    assert "1 new MQL" in invoke("ingest", "--workspace", workspace, events).stderr
    soon = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    assert "0 MQLs expired" in invoke("tick", "--workspace", workspace, "--at", soon).stderr
    later = (datetime.now(UTC) + timedelta(days=500)).isoformat()  # due after ~404 days
    assert "1 MQL expired" in invoke("tick", "--workspace", workspace, "--at", later).stderr
    listed = invoke("leads", "--workspace", workspace, "-f", "jsonl").stdout
    assert '"stage": "recycled"' in listed


def test_explain_and_move_a_lead(workspace: Path, write: Writer) -> None:
    events = write("events.csv", EVENTS)
    invoke("ingest", "--workspace", workspace, events)
    listed = invoke("leads", "--workspace", workspace, "--stage", "mql", "-f", "jsonl")
    lead = json.loads(listed.stdout.splitlines()[0])
    shown = invoke("explain", "--workspace", workspace, lead["id"], "-f", "jsonl")
    record = json.loads(shown.stdout)
    assert round(sum(c["points"] for c in record["explanation"]), 2) == round(record["score"], 2)
    assert {c["rule"] for c in record["explanation"]} >= {"consultation-request", "pricing-page"}
    table = invoke("explain", "--workspace", workspace, lead["id"])
    assert "consultation-request" in table.stdout
    moved = invoke("stage", "--workspace", workspace, lead["id"], "sal", "--reason", "called")
    assert moved.exit_code == 0
    assert "mql → sal" in moved.stderr
    after = json.loads(
        invoke("leads", "--workspace", workspace, "--stage", "sal", "-f", "jsonl").stdout
    )
    assert after["id"] == lead["id"]
    assert (
        invoke("stage", "--workspace", workspace, lead["id"], "hot", "--reason", "x").exit_code == 2
    )
    assert invoke("stage", "--workspace", workspace, "nope", "sal", "--reason", "x").exit_code == 2
    assert invoke("explain", "--workspace", workspace, "nope").exit_code == 2


def test_leads_sorted_and_a_bad_sort_refused(workspace: Path, write: Writer) -> None:
    invoke("ingest", "--workspace", workspace, write("events.csv", EVENTS))
    by_fit = invoke("leads", "--workspace", workspace, "--sort", "fit", "-f", "jsonl").stdout
    fits = [json.loads(line)["fit"] for line in by_fit.splitlines()]
    assert fits == sorted(fits, reverse=True)
    refused = invoke("leads", "--workspace", workspace, "--sort", "name")
    assert refused.exit_code == 2
    assert "--sort 'name'" in refused.stderr


def test_ingest_a_people_file_refits_their_leads(workspace: Path, write: Writer) -> None:
    invoke("ingest", "--workspace", workspace, write("events.csv", EVENTS))
    people = write(
        "people.csv",
        "email,Job Title,Company Size,Industry\n"
        "cy@mail.com,,,\n"
        "vp@acme.com,VP Talent,800,Software\n",
    )
    result = invoke("ingest", "--workspace", workspace, people)
    assert result.exit_code == 0, result.output
    assert "2 people recorded" in result.stderr
    listed = [
        json.loads(line)
        for line in invoke("leads", "--workspace", workspace, "-f", "jsonl").stdout.splitlines()
    ]
    vp = next(r for r in listed if r["email"] == "vp@acme.com")
    assert vp["fit"] == 12 + 8 + 15 + 10  # the new industry counts at once
    bad = write("people.jsonl", '{"job_title": "nobody"}\n')
    refused = invoke("ingest", "--workspace", workspace, bad)
    assert refused.exit_code == 2
    assert "people.jsonl:1: column 'email': the row names no person" in refused.stderr


def test_the_workspace_variable_names_the_folder_not_a_setting(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEADGRADE_WORKSPACE", str(workspace))
    monkeypatch.chdir(tmp_path)
    linted = invoke("lint")
    assert linted.exit_code == 0, linted.output
    assert get_settings(workspace / "leadgrade.toml").workspace.name == "My staffing firm"


def test_the_progress_bar_expects_a_row_a_line(tmp_path: Path) -> None:
    from leadgrade.cli.engine_cmds import _lines

    csv_file = tmp_path / "events.csv"
    csv_file.write_text("id,type\ne1,web.page_view\ne2,web.page_view\n")
    jsonl_file = tmp_path / "events.jsonl"
    jsonl_file.write_text('{"id": "e1"}\n{"id": "e2"}\n{"id": "e3"}\n')
    assert (_lines(csv_file), _lines(jsonl_file)) == (2, 3)
