"""Shadow versions: a model version scoring beside the active one, apart, and the
comparison that says what activating it would change."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgrade.api import create_app
from leadgrade.core import Event, score
from leadgrade.engine import AudienceMap, Engine, EventIn, PersonRef
from leadgrade.keys import create_key
from leadgrade.shadow import shadow_report
from leadgrade.store import Store
from leadgrade.store.schema import leads, shadow_scores, stage_changes
from leadgrade.versions import activate, add_version, list_versions, start_shadow, stop_shadow
from leadgrade.workspace import TEMPLATE, Workspace
from tests.conftest import DAY, T0

EMPLOYER = (Path(str(TEMPLATE)) / "models" / "employer.yaml").read_text()
# The draft: pricing pages count double and the MQL threshold is lower.
DRAFT = EMPLOYER.replace("score_at_least: 65", "score_at_least: 45").replace(
    "      points: 10\n      cap: {points: 30, per: 30d}",
    "      points: 20\n      cap: {points: 60, per: 30d}",
    1,
)


def pricing(event_id: str, at: float, email: str) -> EventIn:
    return EventIn(
        event_id, "web.page_view", at, PersonRef(email=email), properties={"path": "/pricing"}
    )


@pytest.fixture
def engine(store: Store, shipped_models, template_lists) -> Engine:
    engine = Engine(store, shipped_models, AudienceMap(default=("employer",)))
    with store.transaction() as conn:
        add_version(conn, EMPLOYER, "employer.yaml", template_lists, T0)
        conn.execute(sa.text("UPDATE model_versions SET status = 'active'"))
    return engine


def draft(engine: Engine, lists) -> str:  # type: ignore[no-untyped-def]
    with engine.store.transaction() as conn:
        version, _ = add_version(conn, DRAFT, "draft.yaml", lists, T0)
    return version.id


def test_a_shadow_scores_apart_and_moves_no_stage(engine: Engine, template_lists) -> None:
    engine.ingest(
        [pricing(f"p{i}", T0 + i, "ana@acme.com") for i in range(3)]
        + [pricing("q1", T0, "bo@acme.com")],
        now=T0 + 10,
    )
    version_id = draft(engine, template_lists)
    version, scored = start_shadow(engine, version_id, template_lists, T0 + 10)
    assert (version.status, scored) == ("shadow", 2)
    seen: list[object] = []
    engine.subscribe(seen.append)
    engine.ingest([pricing("p9", T0 + DAY, "ana@acme.com")], now=T0 + DAY)
    assert seen == []  # 30 points under the active model: no MQL, whatever the shadow says
    with engine.store.engine.connect() as conn:
        stages = set(conn.scalars(sa.select(leads.c.stage)))
        history = conn.scalars(sa.select(stage_changes.c.to_stage)).all()
    assert stages == {"lead"}
    assert history == ["lead", "lead"]
    report = shadow_report(engine, "employer", T0 + DAY)
    assert report is not None
    assert (report.leads, report.mql_active, report.mql_shadow) == (2, 0, 1)
    assert report.newly_mql_count == 1
    assert report.no_longer_mql_count == 0
    # The shadow's numbers are a full recompute with the draft, whatever the arrival order.
    shadow_model = engine.shadows["employer"][1]
    history_events = [
        Event(f"p{i}", "web.page_view", T0 + i, {"path": "/pricing"}) for i in range(3)
    ] + [Event("p9", "web.page_view", T0 + DAY, {"path": "/pricing"})]
    expected = score(shadow_model, {"email": "ana@acme.com"}, history_events, T0 + DAY)
    with engine.store.engine.connect() as conn:
        ana = conn.execute(
            sa.select(shadow_scores)
            .join(leads, leads.c.id == shadow_scores.c.lead_id)
            .order_by(shadow_scores.c.score.desc())
        ).first()
    assert ana is not None
    assert ana.score == pytest.approx(expected.score)
    assert ana.mql


def test_activating_or_stopping_a_shadow_drops_its_numbers(engine: Engine, template_lists) -> None:
    engine.ingest([pricing("p1", T0, "ana@acme.com")], now=T0)
    version_id = draft(engine, template_lists)
    start_shadow(engine, version_id, template_lists, T0)
    stopped = stop_shadow(engine, version_id)
    assert stopped.status == "draft"
    assert engine.shadows == {}
    start_shadow(engine, version_id, template_lists, T0)
    activated, rescored = activate(engine, version_id, template_lists, T0 + 60)
    assert (activated.status, rescored) == ("active", 1)
    assert engine.shadows == {}
    with engine.store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(shadow_scores)) == 0
    with engine.store.engine.connect() as conn:
        assert {v.status for v in list_versions(conn)} == {"active", "retired"}
    with pytest.raises(ValueError, match="active one"):
        start_shadow(engine, version_id, template_lists, T0)


def test_the_api_runs_and_compares_a_shadow(engine: Engine, template_lists) -> None:
    engine.ingest([pricing(f"p{i}", T0 + i, "ana@acme.com") for i in range(3)], now=T0 + 10)
    version_id = draft(engine, template_lists)
    with engine.store.transaction() as conn:
        _, admin = create_key(conn, "admin", ["admin"], T0)
    headers = {"Authorization": f"Bearer {admin}"}
    app = create_app(engine, clock=lambda: T0 + 20, lists=template_lists)
    with TestClient(app) as client:
        assert client.get(f"/v1/models/{version_id}/shadow", headers=headers).status_code == 409
        started = client.post(f"/v1/models/{version_id}/shadow", headers=headers).json()
        assert started["scored"] == 1
        assert started["comparison"]["mql"] == {
            "active": 0,
            "shadow": 1,
            "newly_mql": 1,
            "no_longer_mql": 0,
        }
        again = client.get(f"/v1/models/{version_id}/shadow", headers=headers).json()
        assert (
            again["comparison"]["examples"]["newly_mql"]
            == started["comparison"]["examples"]["newly_mql"]
        )
        assert client.post("/v1/models/nope/shadow", headers=headers).status_code == 404
        stopped = client.delete(f"/v1/models/{version_id}/shadow", headers=headers).json()
        assert stopped["version"]["status"] == "draft"


def test_the_cli_runs_a_shadow_and_a_reopened_engine_keeps_it(tmp_path: Path) -> None:
    from leadgrade.cli import app

    now = time.time()
    workspace = Workspace.create(tmp_path / "w")
    engine = workspace.engine(now=now)
    engine.ingest([pricing(f"p{i}", now - i, "ana@acme.com") for i in range(3)], now=now)
    with engine.store.transaction() as conn:
        version, _ = add_version(conn, DRAFT, "draft.yaml", workspace.lists(), now)
    engine.store.close()
    runner = CliRunner()
    where = ["--workspace", str(workspace.root)]
    started = runner.invoke(app, ["models", "shadow", version.id, *where])
    assert started.exit_code == 0, started.output
    assert "1 lead would become MQLs" in started.stdout
    reopened = workspace.engine()
    assert reopened.shadows["employer"][0] == version.id
    reopened.store.close()
    compared = runner.invoke(app, ["models", "shadow", version.id, "--report", "--json", *where])
    assert json.loads(compared.stdout)["mql"]["shadow"] == 1
    stopped = runner.invoke(app, ["models", "shadow", version.id, "--stop", *where])
    assert "no longer in shadow" in stopped.stderr
    not_running = runner.invoke(app, ["models", "shadow", version.id, "--report", *where])
    assert not_running.exit_code == 2
    assert runner.invoke(app, ["models", "shadow", "nope", *where]).exit_code == 2
