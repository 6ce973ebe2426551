from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from leadgrade.cli import app
from leadgrade.core import ModelError
from leadgrade.engine import AudienceMap, Engine, EventIn, PersonRef
from leadgrade.store import Store
from leadgrade.store.schema import leads
from leadgrade.versions import activate, add_version, list_versions
from leadgrade.workspace import TEMPLATE, read_lists
from tests.conftest import DAY, T0

ROOT = Path(str(TEMPLATE))
LISTS = read_lists(ROOT / "lists")
EMPLOYER = (ROOT / "models" / "employer.yaml").read_text()


def scores(engine: Engine) -> dict[str, tuple[float, str, str]]:
    with engine.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(leads.c.person_id, leads.c.score, leads.c.grade, leads.c.model_digest)
        ).all()
    return {r.person_id: (r.score, r.grade, r.model_digest) for r in rows}


def test_activating_a_version_rescores_as_a_fresh_ingest_would(store: Store) -> None:
    with store.transaction() as conn:
        first, model = add_version(conn, EMPLOYER, "employer.yaml", LISTS, T0)
    assert first.status == "draft"
    engine = Engine(store, {"employer": model}, AudienceMap(default=("employer",)))
    with store.transaction() as conn:
        again, _ = add_version(conn, EMPLOYER, "employer.yaml", LISTS, T0)
    assert again.id == first.id  # the same text is one version
    batch = [
        EventIn(
            f"e{i}",
            "web.page_view",
            T0 + i * 3600,
            PersonRef(email=f"p{i % 7}@x.com"),
            properties={"path": "/pricing"},
        )
        for i in range(60)
    ]
    engine.ingest(batch, now=T0 + 3 * DAY)
    doubled = EMPLOYER.replace(
        "      points: 10\n      cap: {points: 30, per: 30d}",
        "      points: 20\n      cap: {points: 60, per: 30d}",
    )
    assert doubled != EMPLOYER
    with store.transaction() as conn:
        draft, new_model = add_version(conn, doubled, "draft.yaml", LISTS, T0 + 3 * DAY)
    version, rescored = activate(engine, draft.id, LISTS, T0 + 3 * DAY)
    assert (version.status, rescored) == ("active", 7)
    with store.engine.connect() as conn:
        statuses = {v.id: v.status for v in list_versions(conn, "employer")}
    assert statuses[draft.id] == "active"
    fresh = Engine(Store.memory(), {"employer": new_model}, AudienceMap(default=("employer",)))
    fresh.ingest(batch, now=T0 + 3 * DAY)
    mine, theirs = scores(engine), scores(fresh)
    assert sorted(s for s, _, _ in mine.values()) == pytest.approx(
        sorted(s for s, _, _ in theirs.values()), rel=1e-12
    )
    assert sorted(g for _, g, _ in mine.values()) == sorted(g for _, g, _ in theirs.values())
    assert {d for _, _, d in mine.values()} == {new_model.digest}
    with pytest.raises(KeyError):
        activate(engine, "no-such-version", LISTS, T0)


def test_a_version_that_does_not_load_is_refused(store: Store) -> None:
    with pytest.raises(ModelError), store.transaction() as conn:
        add_version(
            conn, EMPLOYER.replace("field: job_title", "field: gender", 1), "x.yaml", LISTS, T0
        )
    with store.engine.connect() as conn:
        assert list_versions(conn) == []


def test_the_models_commands(in_tmp: Path) -> None:
    runner = CliRunner()

    def invoke(*args: str | Path) -> object:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    assert invoke("init", "ws").exit_code == 0
    listed = invoke("models", "list", "--workspace", "ws")
    lines = listed.stdout.splitlines()
    assert sorted(line.split("\t")[1:3] for line in lines) == [
        ["candidate", "active"],
        ["employer", "active"],
    ]  # started from the model files
    edited = in_tmp / "employer-v2.yaml"
    edited.write_text(EMPLOYER.replace("score_at_least: 65", "score_at_least: 70"))
    added = invoke("models", "add", "--workspace", "ws", edited)
    version_id = added.stdout.strip()
    assert "(draft)" in added.stderr
    activated = invoke("models", "activate", "--workspace", "ws", version_id)
    assert activated.exit_code == 0, activated.output
    assert f"employer now scores with version {version_id}; 0 leads rescored" in activated.stderr
    assert invoke("models", "activate", "--workspace", "ws", "nope").exit_code == 2
    bad = in_tmp / "bad.yaml"
    bad.write_text("audience: employer\n")
    refused = invoke("models", "add", "--workspace", "ws", bad)
    assert refused.exit_code == 2
    assert "missing key 'fit'" in refused.stderr
