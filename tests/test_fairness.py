"""The fairness report (issue 6): MQL and placement rates by self-identified group,
impact ratios against the highest-rate group, the four-fifths flag, groups too small to
judge and the group not disclosed — on a dataset small enough to check by hand, on
SQLite and PostgreSQL; and demographics kept where no score can read them."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from math import comb
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgrade import audit
from leadgrade.api import create_app
from leadgrade.cli import app as cli_app
from leadgrade.engine import AudienceMap, Engine
from leadgrade.fairness import (
    NOT_DISCLOSED,
    DemographicsError,
    GroupCounts,
    Thresholds,
    fairness_report,
    fisher_exact,
    judge,
    record_demographics,
)
from leadgrade.keys import create_key
from leadgrade.store import Store
from leadgrade.store.schema import demographics, identities, leads, people, stage_changes
from leadgrade.times import utc
from tests.conftest import BASE_MODEL, DAY, T0, build

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "leadgrade"


# ----------------------------------------------------------------- a dataset by hand
#
# Candidates created at T0 (sex as they gave it; stages their histories reached):
#
#   group            leads  MQLs  placed   MQL rate  placement rate
#   female             100    50      10      0.50        0.10
#   male                80    24      12      0.30        0.15
#   nonbinary           10     6       0      0.60        0.00   (too small: < 30 leads)
#   not disclosed       25     6       1      0.24        0.04   (20 with no record, 5
#                                                                 "Prefer not to say")
#
# MQLs: the reference is female (0.5; nonbinary's 0.6 is too small to count): male
# 0.3 / 0.5 = 0.6, adverse. Placements: the reference is male (0.15): female
# 0.10 / 0.15 = 2/3, adverse. Two of the female MQLs were moved by hand straight to `sal`
# (never `mql`): they count. Five employer leads, all MQLs, do not count.


def add_person(conn: sa.Connection, email: str | None = None) -> str:
    person = str(uuid.uuid4())
    conn.execute(
        sa.insert(people).values(id=person, attributes={}, created_at=utc(T0), updated_at=utc(T0))
    )
    if email:
        conn.execute(sa.insert(identities).values(kind="email", value=email, person_id=person))
    return person


def add_lead(
    conn: sa.Connection,
    person: str,
    stages: Sequence[str] = (),
    *,
    audience: str = "candidate",
    created: float = T0,
    moved: float | None = None,
) -> str:
    """A lead created at ``created`` whose history went through ``stages`` (at ``moved``,
    default a day after)."""
    lead_id = str(uuid.uuid4())
    conn.execute(
        sa.insert(leads).values(
            id=lead_id,
            person_id=person,
            audience=audience,
            fit=0.0,
            engagement=0.0,
            score=0.0,
            grade="D4",
            stage=stages[-1] if stages else "lead",
            state={},
            model_digest="x",
            created_at=utc(created),
            updated_at=utc(created),
        )
    )
    at = utc(created + DAY if moved is None else moved)
    history = [("lead", None), *zip(stages, ("lead", *stages), strict=False)]
    for to_stage, from_stage in history:
        conn.execute(
            sa.insert(stage_changes).values(
                lead_id=lead_id,
                at=utc(created) if to_stage == "lead" else at,
                from_stage=from_stage,
                to_stage=to_stage,
                actor="test",
                reason="",
            )
        )
    return lead_id


def add_demographics(conn: sa.Connection, person: str, **data: str) -> None:
    conn.execute(sa.insert(demographics).values(person_id=person, data=data, collected_at=utc(T0)))


def group(conn: sa.Connection, size: int, mqls: int, placed: int, **data: str) -> None:
    """``size`` candidates giving ``data``: ``mqls`` of them MQLs, ``placed`` of those won."""
    for i in range(size):
        person = add_person(conn)
        if data:
            add_demographics(conn, person, **data)
        stages: tuple[str, ...] = ()
        if i < placed:
            stages = ("mql", "sal", "sql", "opportunity", "won")
        elif i < mqls:
            stages = ("mql",)
        add_lead(conn, person, stages)


def hand_dataset(store: Store) -> None:
    with store.transaction() as conn:
        group(conn, 98, 48, 10, sex="female", race_ethnicity="Hispanic or Latino")
        for _ in range(2):  # accepted by hand without ever being an MQL
            person = add_person(conn)
            add_demographics(conn, person, sex="female", race_ethnicity="White")
            add_lead(conn, person, ("sal",))
        group(conn, 80, 24, 12, sex="male", race_ethnicity="White")
        group(conn, 10, 6, 0, sex="nonbinary")
        group(conn, 20, 5, 1)
        group(conn, 5, 1, 0, sex="Prefer not to say")
        for _ in range(5):
            person = add_person(conn)
            add_demographics(conn, person, sex="female")
            add_lead(conn, person, ("mql",), audience="employer")


def by_group(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["group"]: g for g in table["groups"]}


def test_the_figures_of_a_hand_computed_dataset(store: Store) -> None:
    hand_dataset(store)
    with store.engine.connect() as conn:
        report = fairness_report(conn, T0 + 30 * DAY, by=[("sex",)]).public()
    (table,) = report["tables"]
    assert table["by"] == ["sex"]
    assert table["reference"] == {"mql": "female", "placement": "male"}
    assert (table["leads"], table["not_disclosed"]) == (215, 25)
    groups = by_group(table)
    assert list(groups) == ["female", "male", "nonbinary", NOT_DISCLOSED]
    figures = {
        name: (
            g["leads"],
            g["mql"]["selected"],
            g["mql"]["rate"],
            g["mql"]["impact_ratio"],
            g["mql"]["status"],
            g["placement"]["selected"],
            g["placement"]["rate"],
            g["placement"]["impact_ratio"],
            g["placement"]["status"],
        )
        for name, g in groups.items()
    }
    assert figures == {
        "female": (100, 50, 0.5, 1.0, "reference", 10, 0.1, pytest.approx(2 / 3), "adverse"),
        "male": (80, 24, 0.3, pytest.approx(0.6), "adverse", 12, 0.15, 1.0, "reference"),
        "nonbinary": (10, 6, 0.6, pytest.approx(1.2), "too small", 0, 0.0, 0.0, "too small"),
        NOT_DISCLOSED: (25, 6, 0.24, None, NOT_DISCLOSED, 1, 0.04, None, NOT_DISCLOSED),
    }
    assert groups["male"]["mql"]["adverse"]
    assert not groups["nonbinary"]["mql"]["adverse"]
    assert groups["male"]["values"] == {"sex": "male"}
    assert groups[NOT_DISCLOSED]["values"] == {"sex": None}
    assert groups["male"]["mql"]["p_value"] == pytest.approx(fisher(24, 56, 50, 50), rel=1e-9)
    assert groups["female"]["placement"]["p_value"] == pytest.approx(
        fisher(10, 90, 12, 68), rel=1e-9
    )
    assert groups["female"]["mql"]["p_value"] is None  # the reference
    assert report["thresholds"] == {"impact_ratio": 0.8, "min_group": 30, "min_selected": 5}
    assert report["audience"] == "candidate"


def test_intersections_and_default_fields(store: Store) -> None:
    hand_dataset(store)
    with store.engine.connect() as conn:
        crossed = fairness_report(conn, T0, by=[("sex", "race_ethnicity")]).public()
        default = fairness_report(conn, T0).public()
    groups = by_group(crossed["tables"][0])
    assert {name: g["leads"] for name, g in groups.items()} == {
        "female / Hispanic or Latino": 98,
        "male / White": 80,
        "female / White": 2,
        # nonbinary people gave no race: an intersection with an undisclosed part
        NOT_DISCLOSED: 35,
    }
    assert groups["female / White"]["values"] == {"sex": "female", "race_ethnicity": "White"}
    assert [t["by"] for t in default["tables"]] == [["race_ethnicity"], ["sex"]]


def test_the_window_counts_leads_created_in_it_and_selections_before_its_end(
    store: Store,
) -> None:
    with store.transaction() as conn:
        for i in range(40):
            person = add_person(conn)
            add_demographics(conn, person, sex="female")
            # 10 become MQLs on day 5, 10 more on day 20; 5 leads are created on day 12
            stages = ("mql",) if i < 20 else ()
            add_lead(
                conn,
                person,
                stages,
                created=T0 + (12 * DAY if i >= 35 else 0),
                moved=T0 + (5 * DAY if i < 10 else 20 * DAY),
            )
    with store.engine.connect() as conn:
        until_day_10 = fairness_report(conn, T0, by=[("sex",)], until=T0 + 10 * DAY).public()
        from_day_10 = fairness_report(conn, T0, by=[("sex",)], since=T0 + 10 * DAY).public()
    (early,) = until_day_10["tables"][0]["groups"]
    assert (early["leads"], early["mql"]["selected"]) == (35, 10)
    (late,) = from_day_10["tables"][0]["groups"]
    assert (late["leads"], late["mql"]["selected"]) == (5, 0)
    assert until_day_10["until"] == "2026-06-07T20:26:40Z"


def test_demographics_recorded_before_a_merge_follow_the_person(store: Store) -> None:
    with store.transaction() as conn:
        visitor, known = add_person(conn), add_person(conn)
        add_demographics(conn, visitor, sex="female")
        conn.execute(sa.update(people).where(people.c.id == visitor).values(merged_into=known))
        add_lead(conn, known, ("mql",))
        add_lead(conn, add_person(conn))  # nobody said anything
    with store.engine.connect() as conn:
        report = fairness_report(conn, T0, by=[("sex",)]).public()
    groups = by_group(report["tables"][0])
    assert {name: (g["leads"], g["mql"]["selected"]) for name, g in groups.items()} == {
        "female": (1, 1),
        NOT_DISCLOSED: (1, 0),
    }


# ------------------------------------------------------------------- the arithmetic


def test_the_public_surface_is_pinned() -> None:
    import leadgrade.fairness

    assert leadgrade.fairness.__all__ == [
        "FIELDS",
        "NOT_DISCLOSED",
        "DemographicsError",
        "FairnessReport",
        "FairnessTable",
        "GroupCounts",
        "GroupFigures",
        "StepFigures",
        "Thresholds",
        "fairness_report",
        "fisher_exact",
        "import_demographics",
        "judge",
        "parse_by",
        "read_demographics",
        "record_demographics",
    ]
    for name in leadgrade.fairness.__all__:
        assert hasattr(leadgrade.fairness, name), name


def fisher(a: int, b: int, c: int, d: int) -> float:
    """Fisher's exact test by enumeration, to check the fast one."""
    row, other, selected = a + b, c + d, a + c
    total = row + other

    def p(k: int) -> float:
        return comb(selected, k) * comb(total - selected, row - k) / comb(total, row)

    seen = p(a)
    support = range(max(0, selected - other), min(selected, row) + 1)
    return min(1.0, sum(p(k) for k in support if p(k) <= seen * (1 + 1e-7)))


def test_fishers_exact_test() -> None:
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(0.4857142857, rel=1e-9)  # the tea
    assert fisher_exact(1, 9, 11, 3) == pytest.approx(0.002759456, rel=1e-6)  # R's example
    assert fisher_exact(0, 0, 5, 5) == 1.0
    for table in [(24, 56, 50, 50), (0, 40, 7, 33), (12, 3, 2, 9), (30, 30, 30, 30)]:
        assert fisher_exact(*table) == pytest.approx(fisher(*table), rel=1e-9)
    assert fisher_exact(4800, 5200, 5000, 5000) == pytest.approx(0.00487879, rel=1e-4)
    with pytest.raises(ValueError, match="negative"):
        fisher_exact(-1, 2, 3, 4)


def counts(name: str, leads: int, mqls: int, placed: int = 0) -> GroupCounts:
    return GroupCounts(name, (name,), leads, mqls, placed)


def test_four_fifths_exactly_is_not_adverse() -> None:
    # 0.32 / 0.4 is 0.7999999999999999 in floating point; as a fraction it is 4/5.
    made, references = judge([counts("a", 50, 20), counts("b", 50, 16)])
    assert references["mql"] == "a"
    assert made[1].mql.impact_ratio == pytest.approx(0.8)
    assert made[1].mql.status == "ok"
    below, _ = judge([counts("a", 50, 20), counts("b", 50, 15)])
    assert below[1].mql.status == "adverse"


def test_groups_and_selections_too_small_to_judge() -> None:
    made, references = judge(
        [counts("big", 40, 3), counts("also big", 40, 1), counts("tiny", 29, 29)]
    )
    assert references["mql"] == "big"  # tiny's 100% is not a reference: too small
    statuses = {g.counts.group: g.mql.status for g in made}
    assert statuses == {"big": "reference", "also big": "too few selected", "tiny": "too small"}
    looser, _ = judge([counts("big", 40, 3), counts("also big", 40, 1)], Thresholds(min_selected=4))
    assert looser[1].mql.status == "adverse"
    only_small, references = judge([counts("a", 10, 5), counts("b", 10, 1)])
    assert references["mql"] == "a"  # none is large enough: the highest of them all
    assert [g.mql.status for g in only_small] == ["too small", "too small"]
    assert only_small[1].mql.impact_ratio == pytest.approx(0.2)


def test_no_selections_and_nothing_disclosed() -> None:
    made, references = judge([counts("a", 50, 0), counts("b", 40, 0)])
    assert references["placement"] == "a"
    assert [g.placement.status for g in made] == ["no selections", "no selections"]
    assert made[0].placement.impact_ratio is None
    hidden = GroupCounts(NOT_DISCLOSED, (None,), 9, 3, 0)
    alone, references = judge([hidden])
    assert references == {"mql": None, "placement": None}
    assert alone[0].mql.rate == pytest.approx(1 / 3)
    assert alone[0].mql.status == NOT_DISCLOSED


# ------------------------------------------------------------- kept apart from scoring

#: Modules that may name the demographics table: where it is defined, the report and
#: the ways in, and privacy (export and erasure hold everything about a person).
ALLOWED = (
    "store/schema.py",
    "store/migrations/",
    "fairness.py",
    "api/routes/demographics.py",
    "api/routes/reports.py",
    "cli/audit_cmds.py",
    "cli/report_cmds.py",
    "privacy/",
)
SCORING = (
    "core/",
    "engine.py",
    "batch/",
    "leads.py",
    "accounts.py",
    "shadow.py",
    "versions.py",
    "handoff/",
    "tracking.py",
    "ingest_files.py",
)


TABLE_IN_SQL = re.compile(r"(?i)\b(from|join|into|update|table)\s+\"?demographics\b")


def reads_demographics(tree: ast.Module) -> bool:
    """Whether code (not its docstrings or comments) reaches the demographics table: by
    importing it or the fairness module, by ``schema.demographics``, or in SQL text."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = {alias.name for alias in node.names}
            if node.module == "leadgrade.store.schema" and "demographics" in names:
                return True
            if node.module == "leadgrade.fairness" or (
                node.module == "leadgrade" and "fairness" in names
            ):
                return True
        if isinstance(node, ast.Import) and any(
            alias.name == "leadgrade.fairness" for alias in node.names
        ):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "demographics":
            return True
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and TABLE_IN_SQL.search(node.value)
        ):
            return True
    return False


def test_no_scoring_code_path_reads_demographics() -> None:
    readers, mentions = [], []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        text = path.read_text(encoding="utf-8")
        if reads_demographics(ast.parse(text)):
            readers.append(relative)
        if re.search(r"(?i)demographic|fairness", text):
            mentions.append(relative)
    assert "fairness.py" in readers, "the search found nothing: is SRC right?"
    # The scoring path does not even mention them, in code or in words.
    scoring = [p for p in mentions if p.startswith(SCORING)]
    assert scoring == [], f"scoring code mentions demographics: {scoring}"
    unexpected = [p for p in readers if not p.startswith(ALLOWED)]
    assert unexpected == [], f"modules that read demographics, not allowed here: {unexpected}"


def test_the_reader_check_sees_what_it_should() -> None:
    def reads(code: str) -> bool:
        return reads_demographics(ast.parse(code))

    assert reads("from leadgrade.store.schema import leads, demographics")
    assert reads("from leadgrade import fairness")
    assert reads("from leadgrade.fairness import fairness_report")
    assert reads("import leadgrade.fairness")
    assert reads("x = schema.demographics.c.data")
    assert reads("conn.exec_driver_sql('SELECT data FROM demographics')")
    assert not reads('"""Demographics are read by the fairness report only."""')
    assert not reads("from leadgrade.store.schema import leads  # not demographics")
    assert not reads("ACTIONS = {'demographics.recorded': 'stored'}")


def test_demographic_fields_cannot_score() -> None:
    """The model lint refuses the usual self-identification fields as scoring inputs."""
    from leadgrade.core import ModelError

    for field in ("race_ethnicity", "sex", "age_band", "veteran", "disability"):
        rule = {"id": "r", "field": field, "equals": "x", "points": 1}
        data = {**BASE_MODEL, "fit": {"max": 50, "rules": [rule]}}
        with pytest.raises(ModelError, match="protected attributes never score"):
            build(data)


# ------------------------------------------------------------------ storing answers


def test_record_demographics_replaces_cleans_and_audits(store: Store) -> None:
    with store.transaction() as conn:
        person = add_person(conn)
        record_demographics(conn, person, {"Sex": "female", "veteran": True}, T0, actor="ops")
        stored_for, stored = record_demographics(
            conn,
            person,
            {"Race/Ethnicity": "  Black or  African American ", "sex": None, "age_band": ""},
            T0 + 1,
            actor="ops",
            collected_at=T0 - DAY,
        )
        with pytest.raises(DemographicsError, match="not a demographic field name"):
            record_demographics(conn, person, {"email": "x@y.z"}, T0, actor="ops")
        with pytest.raises(KeyError):
            record_demographics(conn, "nobody", {"sex": "male"}, T0, actor="ops")
    assert (stored_for, stored) == (person, {"race_ethnicity": "Black or African American"})
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(demographics)).one()
        logged = audit.entries(conn, action="demographics.recorded")
    assert row.data == {"race_ethnicity": "Black or African American"}
    assert [(e.actor, e.subject, e.details) for e in logged] == [
        ("ops", person, {"fields": ["sex", "veteran"]}),
        ("ops", person, {"fields": ["race_ethnicity"]}),  # names, never the answers
    ]


# ----------------------------------------------------------------------------- API


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    models = {
        "employer": build(BASE_MODEL),
        "candidate": build({**BASE_MODEL, "audience": "candidate"}),
    }
    engine = Engine(store, models, AudienceMap(default=("employer",)))
    with TestClient(create_app(engine, clock=lambda: T0 + 30 * DAY)) as test_client:
        yield test_client


def bearer(client: TestClient, *scopes: str) -> dict[str, str]:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.transaction() as conn:
        _, secret = create_key(conn, "k-" + "+".join(scopes), list(scopes), T0)
    return {"Authorization": f"Bearer {secret}"}


def test_the_report_api(client: TestClient, store: Store) -> None:
    hand_dataset(store)
    reader = bearer(client, "read")
    answer = client.get("/v1/reports/fairness", params={"by": "sex"}, headers=reader)
    assert answer.status_code == 200, answer.text
    groups = by_group(answer.json()["tables"][0])
    assert groups["male"]["mql"]["status"] == "adverse"
    assert groups["male"]["mql"]["impact_ratio"] == pytest.approx(0.6)
    assert answer.json()["generated_at"] == "2026-06-27T20:26:40Z"
    two = client.get(
        "/v1/reports/fairness",
        params=[("by", "sex"), ("by", "sex,race_ethnicity"), ("min_group", "5")],
        headers=reader,
    ).json()
    assert [t["by"] for t in two["tables"]] == [["sex"], ["sex", "race_ethnicity"]]
    loose = by_group(two["tables"][0])  # 10 nonbinary leads are enough now: 0.6 leads
    assert (loose["nonbinary"]["mql"]["status"], loose["female"]["mql"]["status"]) == (
        "reference",
        "ok",
    )
    assert loose["female"]["mql"]["impact_ratio"] == pytest.approx(0.5 / 0.6)
    assert two["thresholds"]["min_group"] == 5
    listed = client.get("/v1/reports", headers=reader).json()["items"]
    assert ("fairness", "/v1/reports/fairness") in [(r["name"], r["path"]) for r in listed]
    (fairness,) = [r for r in listed if r["name"] == "fairness"]
    assert fairness["description"].startswith("MQL and placement rates by self-identified")
    assert client.get("/v1/reports/fairness").status_code == 401
    assert client.get("/v1/reports/fairness", headers=bearer(client, "ingest")).status_code == 403
    for params, path in [
        ({"audience": "talent"}, "query:$.audience"),
        ({"by": "sex,,sex"}, "query:$.by"),
        ({"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "query:$.until"),
    ]:
        refused = client.get("/v1/reports/fairness", params=params, headers=reader)
        assert refused.status_code == 422, params
        assert refused.json()["detail"][0]["path"] == path


def test_putting_demographics_needs_an_admin_key(client: TestClient, store: Store) -> None:
    with store.transaction() as conn:
        person = add_person(conn)
    body = {"fields": {"sex": "female", "veteran": "no"}, "collected_at": "2026-05-01T00:00:00Z"}
    path = f"/v1/people/{person}/demographics"
    assert client.put(path, json=body, headers=bearer(client, "write", "read")).status_code == 403
    admin = bearer(client, "admin")
    answer = client.put(path, json=body, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"person_id": person, "fields": ["sex", "veteran"]}
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(demographics)).one()
        (logged,) = audit.entries(conn, action="demographics.recorded")
    assert row.data == {"sex": "female", "veteran": "no"}
    assert logged.actor == "api-key:k-admin"
    assert client.put("/v1/people/nobody/demographics", json=body, headers=admin).status_code == 404
    bad = client.put(path, json={"fields": {"1st": "x"}}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["path"] == "$.fields.1st"


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


def test_import_then_report_from_the_cli(workspace: Path, store: Store) -> None:
    db = store.engine.url.render_as_string(hide_password=False)
    hand_dataset(store)
    with store.transaction() as conn:
        ana, cy = add_person(conn, "ana@mail.example"), add_person(conn)
        add_lead(conn, ana, ("mql",))
        add_lead(conn, cy)
    demographics_file = workspace / "self-id.csv"
    demographics_file.write_text(
        "Email,Person ID,Sex,Race/Ethnicity,Veteran,Collected At\n"
        f"ANA@mail.example,,female,Asian,no,2026-05-01\n"
        f",{cy},male,,,\n"
    )
    imported = invoke("demographics", "import", demographics_file, "--actor", "hr", "--db", db)
    assert imported.exit_code == 0, imported.output
    assert "2 people recorded" in imported.stderr
    with store.engine.connect() as conn:
        stored = dict(conn.execute(sa.select(demographics.c.person_id, demographics.c.data)).all())
        (logged,) = audit.entries(conn, action="demographics.imported")
    assert stored[ana] == {"sex": "female", "race_ethnicity": "Asian", "veteran": "no"}
    assert stored[cy] == {"sex": "male"}
    assert (logged.actor, logged.details) == (
        "hr",
        {"file": "self-id.csv", "people": 2, "skipped": 0},
    )

    as_json = invoke("report", "fairness", "--by", "sex", "-f", "json", "--db", db)
    assert as_json.exit_code == 0, as_json.output
    groups = by_group(json.loads(as_json.stdout)["tables"][0])
    assert (groups["female"]["leads"], groups["female"]["mql"]["selected"]) == (101, 51)
    assert (groups["male"]["leads"], groups["male"]["mql"]["selected"]) == (81, 24)
    as_csv = invoke("report", "fairness", "--by", "sex", "-f", "csv", "--db", db)
    parsed = {r["group"]: r for r in csv.DictReader(io.StringIO(as_csv.stdout))}
    assert parsed["male"]["mql_status"] == "adverse"
    assert parsed["male"]["by"] == "sex"
    assert float(parsed["male"]["mql_impact_ratio"]) == pytest.approx((24 / 81) / (51 / 101))
    table = invoke("report", "fairness", "--by", "sex", "--until", "2026-07-01", "--db", db)
    assert table.exit_code == 0, table.output
    assert "candidate leads by sex" in table.stdout
    assert "adverse" in table.stdout
    assert "too small" in table.stdout
    assert "four-fifths" in table.stdout


def test_bad_demographics_files_and_report_options(workspace: Path, store: Store) -> None:
    db = store.engine.url.render_as_string(hide_password=False)
    with store.transaction() as conn:
        known = add_person(conn)
    unknown = workspace / "unknown.csv"
    unknown.write_text(f"person_id,sex\n{known},female\nnobody,male\n")
    stopped = invoke("demographics", "import", unknown, "--db", db)
    assert stopped.exit_code == 2
    assert "unknown.csv:3: column 'person_id': names no known person" in stopped.stderr
    with store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(demographics)) == 0
    skipped = invoke("demographics", "import", unknown, "--skip-unknown", "--db", db)
    assert skipped.exit_code == 0, skipped.output
    assert "1 person recorded, 1 row skipped" in skipped.stderr
    header = workspace / "header.csv"
    header.write_text("sex,veteran\nfemale,no\n")
    assert (
        "needs a person_id or email column"
        in invoke("demographics", "import", header, "--db", db).stderr
    )
    for args, message in [
        (("--audience", "talent"), "known audiences are"),
        (("--since", "soon"), "--since 'soon' is not an ISO 8601"),
        (("--since", "2026-02-01", "--until", "2026-01-01"), "--until must be after --since"),
        (("--by", "sex,sex"), "names a field twice"),
    ]:
        refused = invoke("report", "fairness", *args, "--db", db)
        assert refused.exit_code == 2, args
        assert message in refused.stderr
