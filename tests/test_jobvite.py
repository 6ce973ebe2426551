"""Jobvite: paging and error shapes against a local server that speaks Jobvite's v2 API
(a refused credential is HTTP 200 with ``{"status": {"code": 401}}``), and the snapshot
diff that makes created / workflow-state-changed / hired events, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from leadgrade.cli import app as cli
from leadgrade.core import Model
from leadgrade.engine import AudienceMap, AudienceRule, Engine
from leadgrade.integrations.jobvite import JobviteClient, JobviteError, JobvitePoller
from leadgrade.settings import JobviteSection
from leadgrade.store import Store
from leadgrade.store.schema import (
    events,
    identities,
    integration_snapshots,
    leads,
    people,
    stage_changes,
    timers,
)
from leadgrade.times import epoch, utc
from leadgrade.workspace import Workspace
from tests.vendors import JobviteServer, jv_candidate, jv_requisition

NOW = 1_790_812_800.0


@pytest.fixture
def server() -> Iterator[JobviteServer]:
    found = JobviteServer()
    yield found
    found.stop()


def settings_for(server: JobviteServer, **changes: Any) -> JobviteSection:
    values: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": server.api_key,
        "secret": server.secret,
        "page_size": 2,
        "timeout": 5,
    }
    return JobviteSection(**(values | changes))


# --------------------------------------------------------------------------- client


def test_pages_are_read_with_start_and_count_behind_the_credential_headers(
    server: JobviteServer,
) -> None:
    server.candidates = [jv_candidate(f"c{i}", f"a{i}") for i in range(5)]
    client = JobviteClient(settings_for(server))
    try:
        found = [c["eId"] for c in client.all("candidate")]
    finally:
        client.close()
    assert found == ["c0", "c1", "c2", "c3", "c4"]
    pages = [(q["start"], q["count"]) for _, q in server.calls("GET", "/api/v2/candidate")]
    assert pages == [(["1"], ["2"]), (["3"], ["2"]), (["5"], ["2"])]


def test_a_200_with_status_401_in_the_body_is_a_failure_not_an_empty_page(
    server: JobviteServer,
) -> None:
    server.candidates = [jv_candidate()]
    client = JobviteClient(settings_for(server, secret="not-the-secret"))
    with pytest.raises(JobviteError) as caught:
        list(client.all("candidate"))
    client.close()
    message = str(caught.value)
    assert "status 401" in message
    assert "Invalid api/secret key combination" in message
    assert "api_key and secret" in message
    server.fail_with = (500, 500)
    failing = JobviteClient(settings_for(server))
    with pytest.raises(JobviteError, match="status 500"):
        list(failing.all("candidate"))
    failing.close()
    with pytest.raises(JobviteError, match="api_key and secret"):
        JobviteClient(JobviteSection())


# --------------------------------------------------------------------------- poller


@pytest.fixture
def engine(store: Store, shipped_models: dict[str, Model]) -> Engine:
    return Engine(
        store, shipped_models, AudienceMap((AudienceRule("candidate", types=("job.*",)),), ())
    )


def count(engine: Engine, table: sa.Table, *where: Any) -> int:
    with engine.store.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0


def lead(engine: Engine, candidate: str = "dOen2hqr") -> Any:
    with engine.store.engine.connect() as conn:
        person = conn.scalar(
            sa.select(identities.c.person_id).where(
                identities.c.kind == "jobvite", identities.c.value == candidate
            )
        )
        attributes = conn.scalar(sa.select(people.c.attributes).where(people.c.id == person))
        row = conn.execute(sa.select(leads).where(leads.c.person_id == person)).one()
    return row, attributes


def poll(engine: Engine, server: JobviteServer, at: float = NOW) -> Any:
    poller = JobvitePoller(engine, settings_for(server))
    try:
        return poller.poll(at)
    finally:
        poller.close()


def test_a_new_application_then_state_changes_then_a_hire(
    engine: Engine, server: JobviteServer
) -> None:
    server.requisitions = [jv_requisition()]
    server.candidates = [jv_candidate(state="Phone Screen"), jv_candidate("x2", "y2", state="New")]
    first = poll(engine, server)
    assert (first.candidates, first.requisitions, first.found) == (2, 1, {"created": 2})
    assert first.requisition_changes == {"created": 1}
    assert first.outcome.moved == 1
    row, attributes = lead(engine)
    assert row.stage == "sql"  # Phone Screen
    assert attributes["job_category"] == "Accounting and Finance"  # the requisition's
    assert attributes["years_experience"] == "6"
    assert attributes["state"] == "OH"
    stored = json.dumps(attributes)
    for value in (
        "Female",
        "Decline to Self Identify",
        "Not a Veteran",
        "US Citizen",
        "43215",
        "2014",
    ):
        assert value not in stored
    assert sorted(first.outcome.stripped) == [
        "application.customField.year_of_graduation",
        "application.gender",
        "application.race",
        "application.veteranStatus",
        "postalCode",
        "workStatus",
    ]
    with engine.store.engine.connect() as conn:
        kinds = sorted(conn.scalars(sa.select(events.c.type)))
        kept = [row.data for row in conn.execute(sa.select(integration_snapshots))]
    assert kinds == ["job.apply", "job.apply"]
    assert "casey.morgan@example.com" not in json.dumps(kept)  # snapshots hold ids and states

    # nothing changed: nothing happens
    again = poll(engine, server)
    assert (again.found, again.outcome.accepted) == ({}, 0)

    server.candidates[0]["application"]["workflowState"] = "Interview"
    moved = poll(engine, server)
    assert moved.found == {"state": 1}
    assert lead(engine)[0].stage == "opportunity"
    with engine.store.engine.connect() as conn:
        change = conn.execute(
            sa.select(events.c.properties).where(events.c.type == "ats.stage_change")
        ).scalar_one()
    assert (change["from_state"], change["state"]) == ("Phone Screen", "Interview")

    server.candidates[0]["application"]["workflowState"] = "Hired"
    server.candidates[0]["application"]["startDate"] = "2026-11-02"
    hired = poll(engine, server)
    assert hired.found == {"hired": 1}
    row, _ = lead(engine)
    assert row.stage == "won"
    with engine.store.engine.connect() as conn:
        due = conn.scalar(sa.select(timers.c.due_at).where(timers.c.kind == "reengage"))
    assert due is not None
    assert utc(epoch(due)).date().isoformat() == "2027-11-02"  # a year after the start

    server.candidates[0]["firstName"] = "Cassie"
    updated = poll(engine, server)
    assert updated.found == {"updated": 1}
    assert lead(engine)[1]["first_name"] == "Cassie"
    assert lead(engine)[0].stage == "won"


def test_a_pass_that_dies_before_its_snapshots_applies_nothing_twice(
    engine: Engine, server: JobviteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.candidates = [jv_candidate(state="Offer")]
    real = JobvitePoller._keep

    def dies(self: JobvitePoller, entity: str, *args: Any) -> None:
        if entity == "candidate":
            raise KeyboardInterrupt("the poller dies after applying, before the snapshot")
        real(self, entity, *args)

    monkeypatch.setattr(JobvitePoller, "_keep", dies)
    with pytest.raises(KeyboardInterrupt):
        poll(engine, server)
    monkeypatch.setattr(JobvitePoller, "_keep", real)
    assert lead(engine)[0].stage == "opportunity"
    again = poll(engine, server)
    assert (again.outcome.accepted, again.outcome.duplicates) == (0, 1)
    assert (again.outcome.moved, again.outcome.replayed) == (0, 1)
    assert count(engine, stage_changes, stage_changes.c.to_stage == "opportunity") == 1
    assert poll(engine, server).found == {}


def test_a_refused_credential_stores_nothing(engine: Engine, server: JobviteServer) -> None:
    server.candidates = [jv_candidate()]
    poller = JobvitePoller(engine, settings_for(server, api_key="wrong-key"))
    with pytest.raises(JobviteError, match="status 401"):
        poller.poll(NOW)
    poller.close()
    assert count(engine, events) == 0
    assert count(engine, integration_snapshots) == 0


def test_the_cli_reports_a_refusal_clearly(
    in_tmp: Path, server: JobviteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    workspace = Workspace.create(in_tmp / "firm")
    config = workspace.config_path
    config.write_text(
        config.read_text().replace(
            "[tracking]",
            f'[integrations.jobvite]\nbase_url = "{server.base_url}"\napi_key = "jv-key-1"\n\n'
            "[tracking]",
        )
    )
    monkeypatch.setenv("LEADGRADE_JOBVITE_SECRET", "wrong-secret")
    root = ["--workspace", str(workspace.root)]
    refused = CliRunner().invoke(cli, ["integrations", "jobvite", "poll", "--once", *root])
    assert refused.exit_code == 1
    assert "status 401" in refused.output
    monkeypatch.setenv("LEADGRADE_JOBVITE_SECRET", server.secret)
    server.candidates = [jv_candidate(state="Phone Screen")]
    done = CliRunner().invoke(cli, ["integrations", "jobvite", "poll", "--once", *root])
    assert done.exit_code == 0, done.output
    assert "jobvite: 1 candidates, 0 requisitions read; changes: 1 created" in done.output
    monkeypatch.delenv("LEADGRADE_JOBVITE_SECRET")
    missing = CliRunner().invoke(cli, ["integrations", "jobvite", "poll", "--once", *root])
    assert missing.exit_code == 2
    assert "secret" in missing.output
