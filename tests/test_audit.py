"""The audit log (issue 6): an append-only record of model versions, manual stage moves
and feedback, assignments and API keys, written in the transaction of the change, read
through ``GET /v1/audit`` (admin keys only) and ``leadgrade audit``; on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgrade import audit
from leadgrade.api import create_app
from leadgrade.cli import app as cli_app
from leadgrade.engine import AudienceMap, AudienceRule, Engine, EventIn, PersonRef
from leadgrade.handoff.routing import Routing, check_routing
from leadgrade.handoff.service import Handoff
from leadgrade.keys import create_key, revoke
from leadgrade.store import Store
from leadgrade.versions import activate, add_version, start_shadow, stop_shadow
from leadgrade.workspace import TEMPLATE, read_lists
from tests.conftest import BASE_MODEL, DAY, T0, build

ROOT = Path(__file__).resolve().parent.parent
LISTS = read_lists(Path(str(TEMPLATE)) / "lists")
EMPLOYER = yaml.safe_dump(BASE_MODEL, sort_keys=False)
DOUBLED = EMPLOYER.replace("points: 40", "points: 45")
ROUTING: dict[str, Any] = {
    "reps": {"ana": {"name": "Ana"}, "ben": {"name": "Ben"}},
    "teams": {"sales": {"members": ["ana", "ben"]}},
    "rules": [],
    "fallback": "sales",
}


def rows(store: Store, action: str | None = None) -> list[audit.AuditEntry]:
    with store.engine.connect() as conn:
        return audit.entries(conn, action=action)


def routing() -> Routing:
    made, problems = check_routing(yaml.safe_dump(ROUTING))
    assert made is not None, problems
    return made


def engine_of(store: Store) -> Engine:
    return Engine(
        store,
        {
            "employer": build(BASE_MODEL),
            "candidate": build({**BASE_MODEL, "audience": "candidate"}),
        },
        AudienceMap((AudienceRule("candidate", types=("job.*",)),), ("employer",)),
    )


def an_mql(engine: Engine, email: str, at: float) -> str:
    person = PersonRef(email=email)
    engine.identify(person, {"job_title": "VP Sales", "company_size": 500}, at)
    result = engine.ingest([EventIn(f"demo-{email}", "demo.request", at, person)], at)
    (change,) = [c for c in result.domain_events if type(c).__name__ == "LeadBecameMQL"]
    return str(change.lead_id)


# ------------------------------------------------------------------------- the log


def test_record_appends_in_the_callers_transaction(store: Store) -> None:
    with store.transaction() as conn:
        first = audit.record(conn, "cli", "retention.run", None, {"erased": 2}, T0)
        second = audit.record(conn, "ops", "person.erased", "p-1", {"basis": "request"}, T0 + 1)
    assert second > first

    def failing_change() -> None:
        with store.transaction() as conn:
            audit.record(conn, "cli", "person.exported", "p-2", {}, T0 + 2)
            raise RuntimeError("the change failed")  # its audit row goes with it

    with pytest.raises(RuntimeError):
        failing_change()
    found = rows(store)
    assert [(e.actor, e.action, e.subject, e.details, e.at) for e in found] == [
        ("cli", "retention.run", None, {"erased": 2}, T0),
        ("ops", "person.erased", "p-1", {"basis": "request"}, T0 + 1),
    ]
    assert found[1].public()["at"] == "2026-05-28T20:26:41Z"


def test_the_public_surface_is_pinned() -> None:
    assert audit.__all__ == ["ACTIONS", "AuditEntry", "api_actor", "entries", "record"]
    assert audit.api_actor(type("Key", (), {"name": "crm"})()) == "api-key:crm"


def test_unknown_actions_and_empty_actors_are_refused(store: Store) -> None:
    with store.transaction() as conn:
        with pytest.raises(ValueError, match=r"unknown audit action 'model\.deleted'"):
            audit.record(conn, "cli", "model.deleted", None, {}, T0)
        with pytest.raises(ValueError, match="needs an actor"):
            audit.record(conn, " ", "retention.run", None, {}, T0)
    assert rows(store) == []


def test_the_log_is_append_only() -> None:
    """Nothing in leadgrade updates or deletes an audit row."""
    offenders = []
    for path in sorted((ROOT / "src" / "leadgrade").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"sa\.(update|delete)\(\s*audit_log\b|DELETE FROM audit_log", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    assert not [name for name in dir(audit) if re.match(r"(update|delete|remove|purge)", name)]


def test_entries_filter_by_action_prefix_subject_actor_and_time(store: Store) -> None:
    with store.transaction() as conn:
        audit.record(conn, "cli", "model.created", "v1", {}, T0)
        audit.record(conn, "api-key:ops", "model.activated", "v1", {}, T0 + DAY)
        audit.record(conn, "cli", "key.created", "k1", {}, T0 + 2 * DAY)
    with store.engine.connect() as conn:
        assert [e.subject for e in audit.entries(conn, action="model.")] == ["v1", "v1"]
        assert [e.action for e in audit.entries(conn, subject="k1")] == ["key.created"]
        assert [e.action for e in audit.entries(conn, actor="api-key:ops")] == ["model.activated"]
        window = audit.entries(conn, since=T0 + DAY, until=T0 + 2 * DAY)
        assert [e.action for e in window] == ["model.activated"]  # until is exclusive
        first, *_ = audit.entries(conn)
        assert [e.action for e in audit.entries(conn, after=first.id, limit=1)] == [
            "model.activated"
        ]


# ----------------------------------------------------------------- wired actions


def test_model_versions_are_audited(store: Store) -> None:
    with store.transaction() as conn:
        first, model = add_version(conn, EMPLOYER, "employer.yaml", LISTS, T0, actor="ana")
        add_version(conn, EMPLOYER, "employer.yaml", LISTS, T0, actor="ana")  # the same: no row
    engine = Engine(store, {"employer": model}, AudienceMap(default=("employer",)))
    activate(engine, first.id, LISTS, T0 + 1, actor="ana")
    with store.transaction() as conn:
        draft, _ = add_version(conn, DOUBLED, "draft.yaml", LISTS, T0 + 2, actor="ben")
    start_shadow(engine, draft.id, LISTS, T0 + 3, actor="ben")
    stop_shadow(engine, draft.id, actor="ben", now=T0 + 4)
    stop_shadow(engine, draft.id, actor="ben", now=T0 + 5)  # not in shadow any more: no row
    activate(engine, draft.id, LISTS, T0 + 6, actor="cy")
    found = [(e.actor, e.action, e.subject, e.at) for e in rows(store)]
    assert found == [
        ("ana", "model.created", first.id, T0),
        ("ana", "model.activated", first.id, T0 + 1),
        ("ben", "model.created", draft.id, T0 + 2),
        ("ben", "model.shadow_started", draft.id, T0 + 3),
        ("ben", "model.shadow_stopped", draft.id, T0 + 4),
        ("cy", "model.activated", draft.id, T0 + 6),
    ]
    details = [e.details for e in rows(store)]
    assert details[0] == {"audience": "employer", "digest": first.digest, "source": "employer.yaml"}
    assert details[5] == {"audience": "employer", "digest": draft.digest, "retired": [first.id]}
    assert details[3]["replaced"] == []


def test_api_keys_are_audited(store: Store) -> None:
    with store.transaction() as conn:
        key, _ = create_key(conn, "website", ["ingest", "read"], T0, actor="ops")
        assert revoke(conn, key.id, T0 + 1, actor="sec")
        assert not revoke(conn, key.id, T0 + 2, actor="sec")  # already revoked: no row
        assert not revoke(conn, "nope", T0 + 2, actor="sec")
    assert [(e.actor, e.action, e.subject, e.details) for e in rows(store)] == [
        ("ops", "key.created", key.id, {"name": "website", "scopes": ["ingest", "read"]}),
        ("sec", "key.revoked", key.id, {"name": "website"}),
    ]


def test_manual_moves_feedback_and_assignments_are_audited(store: Store) -> None:
    handoff = Handoff(engine_of(store), routing())
    lead_id = an_mql(handoff.engine, "vp@big.example", T0)
    handoff.reassign(lead_id, "ben", T0 + 60, actor="max", reason="knows them")
    handoff.decide(lead_id, "accept", T0 + 120, actor="ben")
    handoff.move(lead_id, "opportunity", T0 + 180, actor="api-key:crm", reason="deal opened")
    found = [
        (e.actor, e.action, e.subject, e.details, e.at)
        for e in rows(store)
        if e.action.startswith("lead.")
    ]
    assert found == [
        (
            "max",
            "lead.assigned",
            lead_id,
            {"owner": "ben", "team": "sales", "reason": "knows them"},
            T0 + 60,
        ),
        (
            "ben",
            "lead.feedback",
            lead_id,
            {"decision": "accept", "reason": None, "from": "mql", "to": "sal"},
            T0 + 120,
        ),
        (
            "api-key:crm",
            "lead.stage_moved",
            lead_id,
            {"from": "sal", "to": "opportunity", "reason": "deal opened"},
            T0 + 180,
        ),
    ]


# ----------------------------------------------------------------------------- API


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    engine = engine_of(store)
    now = T0 + DAY
    app = create_app(engine, clock=lambda: now, lists=LISTS, handoff=Handoff(engine, routing()))
    with TestClient(app) as test_client:
        yield test_client


def bearer(client: TestClient, name: str, *scopes: str) -> dict[str, str]:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.transaction() as conn:
        _, secret = create_key(conn, name, list(scopes), T0)
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_writes_its_key_as_the_actor(client: TestClient) -> None:
    admin = bearer(client, "ops", "admin")
    made = client.post("/v1/models", json={"yaml": DOUBLED}, headers=admin)
    assert made.status_code == 201, made.text
    version = made.json()["id"]
    assert client.post(f"/v1/models/{version}/shadow", headers=admin).status_code == 200
    assert client.delete(f"/v1/models/{version}/shadow", headers=admin).status_code == 200
    assert client.post(f"/v1/models/{version}/activate", headers=admin).status_code == 200
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    lead_id = an_mql(engine, "vp@big.example", T0)
    writer = bearer(client, "crm", "write")
    moved = client.post(
        f"/v1/leads/{lead_id}/stage", json={"stage": "sal", "reason": "called"}, headers=writer
    )
    assert moved.status_code == 200, moved.text
    listed = client.get("/v1/audit", params={"subject": version}, headers=admin).json()["items"]
    assert [(e["actor"], e["action"]) for e in listed] == [
        ("api-key:ops", "model.created"),
        ("api-key:ops", "model.shadow_started"),
        ("api-key:ops", "model.shadow_stopped"),
        ("api-key:ops", "model.activated"),
    ]
    assert listed[0]["at"] == "2026-05-29T20:26:40Z"
    (move,) = client.get("/v1/audit", params={"subject": lead_id}, headers=admin).json()["items"]
    assert (move["actor"], move["action"], move["details"]) == (
        "api-key:crm",
        "lead.stage_moved",
        {"from": "mql", "to": "sal", "reason": "called"},
    )


def test_the_audit_api_is_for_admin_keys_only(client: TestClient) -> None:
    assert client.get("/v1/audit").status_code == 401
    for scopes in (("read",), ("write",), ("ingest", "read", "write")):
        refused = client.get("/v1/audit", headers=bearer(client, "k", *scopes))
        assert refused.status_code == 403
        assert "lacks the 'admin' scope" in refused.json()["detail"]
    assert client.get("/v1/audit", headers=bearer(client, "boss", "admin")).status_code == 200


def test_the_audit_api_filters_and_pages(client: TestClient) -> None:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.transaction() as conn:
        for i in range(5):
            audit.record(conn, "cli", "key.created", f"k{i}", {"i": i}, T0 + i * DAY)
        audit.record(conn, "cli", "retention.run", None, {}, T0 + DAY)
    admin = bearer(client, "ops", "admin")  # itself a key.created row, by "system", at T0
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"action": "key.created", "actor": "cli", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/audit", params=params, headers=admin).json()
        seen += [e["subject"] for e in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert (seen, pages) == (["k0", "k1", "k2", "k3", "k4"], 3)
    window = client.get(
        "/v1/audit",
        params={"action": "key.", "since": "2026-05-29T20:26:40Z", "until": "2026-05-31T20:26:40Z"},
        headers=admin,
    ).json()
    assert [e["subject"] for e in window["items"]] == ["k1", "k2"]
    naive = client.get(
        "/v1/audit", params={"since": "2026-06-01T20:26:40", "actor": "cli"}, headers=admin
    )
    assert [e["subject"] for e in naive.json()["items"]] == ["k4"]  # no offset: UTC
    for bad in ("nonsense", "eyJzb3J0Ijoic2NvcmUiLCJhZnRlciI6WzFdfQ"):  # the second: leads'
        refused = client.get("/v1/audit", params={"cursor": bad}, headers=admin)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["path"] == "query:$.cursor"


# ----------------------------------------------------------------------------- CLI

runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(cli_app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def workspace(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    assert invoke("init", "firm").exit_code == 0
    monkeypatch.setenv("LEADGRADE_WORKSPACE", str(in_tmp / "firm"))
    return in_tmp / "firm"


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_the_cli_writes_cli_or_the_actor_given(workspace: Path) -> None:
    """On the workspace's SQLite store (these commands are not this issue's; the tests of
    ``leadgrade audit`` below run on PostgreSQL too)."""
    db = f"sqlite:///{workspace / 'leadgrade.db'}"
    made = invoke("keys", "create", "--name", "site", "--scope", "ingest", "--db", db)
    assert made.exit_code == 0, made.output
    key_id = made.stdout.strip().split("_")[1]
    assert invoke("keys", "revoke", key_id, "--actor", "sec", "--db", db).exit_code == 0
    model = workspace / "models" / "employer.yaml"
    changed = workspace / "employer-v2.yaml"
    changed.write_text(model.read_text().replace("points: 40", "points: 41"))
    added = invoke("models", "add", changed, "--actor", "ana", "--db", db)
    assert added.exit_code == 0, added.output
    version = added.stdout.strip()
    assert invoke("models", "shadow", version, "--db", db).exit_code == 0
    assert invoke("models", "shadow", version, "--stop", "--db", db).exit_code == 0
    assert invoke("models", "activate", version, "--actor", "ana", "--db", db).exit_code == 0
    store = Store.open(db)
    found = [(e.actor, e.action, e.subject) for e in rows(store)]
    store.close()
    # Opening the workspace's store started its model files as active versions: "system".
    assert {(a, act) for a, act, _ in found[:4]} == {
        ("system", "model.created"),
        ("system", "model.activated"),
    }
    assert found[4:] == [
        ("cli", "key.created", key_id),
        ("sec", "key.revoked", key_id),
        ("ana", "model.created", version),
        ("cli", "model.shadow_started", version),
        ("cli", "model.shadow_stopped", version),
        ("ana", "model.activated", version),
    ]


def test_leadgrade_audit_prints_table_csv_and_jsonl(workspace: Path, store: Store) -> None:
    db = url_of(store)
    with store.transaction() as conn:
        audit.record(conn, "cli", "key.created", "k1", {"name": "site"}, T0)
        audit.record(conn, "api-key:ops", "person.erased", "p-1", {"basis": "request"}, T0 + DAY)
        audit.record(conn, "retention", "retention.run", None, {"erased": 3}, T0 + 2 * DAY)
    jsonl = invoke("audit", "-f", "jsonl", "--db", db)
    assert jsonl.exit_code == 0, jsonl.output
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [(e["actor"], e["action"], e["subject"], e["details"]) for e in lines] == [
        ("cli", "key.created", "k1", {"name": "site"}),
        ("api-key:ops", "person.erased", "p-1", {"basis": "request"}),
        ("retention", "retention.run", None, {"erased": 3}),
    ]
    window = invoke(
        "audit", "--since", "2026-05-29", "--until", "2026-05-30T20:26:40Z", "-f", "csv", "--db", db
    )
    parsed = list(csv.DictReader(io.StringIO(window.stdout)))
    assert [(r["action"], r["subject"], json.loads(r["details"])) for r in parsed] == [
        ("person.erased", "p-1", {"basis": "request"})
    ]
    assert list(parsed[0]) == ["id", "at", "actor", "action", "subject", "details"]
    only = invoke("audit", "--action", "retention.run", "-f", "jsonl", "--db", db)
    assert [json.loads(line)["action"] for line in only.stdout.splitlines()] == ["retention.run"]
    table = invoke("audit", "--subject", "k1", "--db", db)
    assert "1 audit entry, oldest first" in table.stdout
    assert "key.created" in table.stdout


def test_leadgrade_audit_refuses_bad_options(workspace: Path) -> None:
    bad_time = invoke("audit", "--since", "yesterday")
    assert bad_time.exit_code == 2
    assert "--since 'yesterday' is not an ISO 8601 date or time" in bad_time.stderr
    bad_action = invoke("audit", "--action", "model.deleted")
    assert bad_action.exit_code == 2
    assert "is not an action" in bad_action.stderr


def test_every_action_is_documented() -> None:
    text = (ROOT / "docs" / "compliance.md").read_text(encoding="utf-8")
    assert [action for action in audit.ACTIONS if f"`{action}`" not in text] == []
