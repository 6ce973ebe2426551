"""Accounts: employer leads roll up to their company; an account becomes an MQA."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from leadgrade.accounts import find_accounts, get_account
from leadgrade.core import Event
from leadgrade.core.accounts import ContactSums, account_card, account_domain, normal_domain
from leadgrade.core.scoring import score
from leadgrade.engine import AccountBecameMQA, AudienceMap, Engine, EventIn, PersonRef
from leadgrade.store import Store
from leadgrade.store.schema import accounts, leads
from tests.conftest import DAY, T0

AUDIENCES = AudienceMap(default=("employer",))
pricing = {"path": "/pricing"}


@pytest.fixture
def engine(store: Store, shipped_models) -> Engine:
    return Engine(store, shipped_models, AUDIENCES)


def event(event_id: str, kind: str, at: float, email: str, **properties: object) -> EventIn:
    return EventIn(event_id, kind, at, PersonRef(email=email), properties=properties)


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("https://www.Acme.com/careers", "acme.com"),
        ("acme.com", "acme.com"),
        ("WWW.ACME.CO.UK", "acme.co.uk"),
        ("jo@Sales.Acme.com", "sales.acme.com"),
        ("http://acme.com:8080?x=1", "acme.com"),
        ("localhost", None),
        ("  ", None),
    ],
)
def test_domains_are_normalised(text: str, domain: str | None) -> None:
    assert normal_domain(text) == domain


def test_the_account_domain_comes_from_the_company_else_a_work_email(shipped_models) -> None:
    rule = shipped_models["employer"].accounts
    assert rule is not None
    assert account_domain(rule, {"email": "ana@acme.com"}) == "acme.com"
    assert account_domain(rule, {"email": "ana@gmail.com"}) is None  # a personal mailbox
    given = {"email": "ana@gmail.com", "company_domain": "https://acme.com"}
    assert account_domain(rule, given) == "acme.com"


def test_an_account_card_sums_engagement_and_takes_the_best_fit(shipped_models) -> None:
    model = shipped_models["employer"]
    card = account_card(model, ContactSums.of([(30.0, 70.0), (10.0, 40.0), (45.0, 0.0)]))
    assert (card.fit, card.engagement, card.score) == (45.0, 110.0, 155.0)
    assert (card.contacts, card.engaged, card.grade) == (3, 2, "A2")
    assert card.mqa  # engagement ≥ 100 with two engaged contacts
    alone = account_card(model, ContactSums.of([(45.0, 110.0)]))
    assert not alone.mqa  # one engaged contact is not a buying committee
    capped = account_card(model, ContactSums.of([(0.0, 100.0)] * 4))
    assert capped.engagement == 300.0  # accounts.engagement_max


def test_contacts_roll_up_and_the_account_becomes_an_mqa(engine: Engine) -> None:
    seen: list[object] = []
    engine.subscribe(seen.append)
    first = engine.ingest(
        [
            event("a1", "demo.request", T0, "ana@acme.com"),
            event("a2", "web.page_view", T0 + 60, "ana@acme.com", path="/pricing"),
            event("g1", "web.page_view", T0, "gus@gmail.com", path="/pricing"),
        ],
        now=T0 + 60,
    )
    assert not [e for e in first.domain_events if isinstance(e, AccountBecameMQA)]
    second = engine.ingest(
        [
            event("b1", "form.submit", T0 + DAY, "bo@acme.com", form="consultation"),
            event("b2", "webinar.attend", T0 + DAY, "bo@acme.com"),
            event("b3", "web.page_view", T0 + DAY, "bo@acme.com", path="/pricing"),
        ],
        now=T0 + DAY,
    )
    (became,) = [e for e in second.domain_events if isinstance(e, AccountBecameMQA)]
    assert became in seen  # subscribers hear of it after the commit
    with engine.store.engine.connect() as conn:
        (stored,) = conn.execute(sa.select(accounts)).all()
        members = conn.execute(
            sa.select(leads.c.account_id, sa.func.count()).group_by(leads.c.account_id)
        ).all()
        view = get_account(conn, engine.models, became.account_id, T0 + DAY)
    assert (stored.domain, stored.contacts, stored.engaged) == ("acme.com", 2, 2)
    assert stored.mqa_since is not None
    assert sorted(members, key=str) == sorted([(stored.id, 2), (None, 1)], key=str)
    model = engine.models["employer"]
    history = [Event("a1", "demo.request", T0), Event("a2", "web.page_view", T0 + 60, pricing)]
    ana = score(model, {}, history, T0 + DAY)
    assert view is not None
    assert view.card.mqa
    assert [c.email for c in view.contacts] == ["bo@acme.com", "ana@acme.com"]
    assert view.contacts[1].engagement == pytest.approx(ana.engagement)
    assert view.card.engagement == pytest.approx(sum(c.engagement for c in view.contacts))


def test_an_account_stops_being_an_mqa_as_engagement_decays(engine: Engine) -> None:
    engine.ingest(
        [
            event("a1", "demo.request", T0, "ana@acme.com"),
            event("b1", "form.submit", T0, "bo@acme.com", form="consultation"),
            event("b2", "webinar.attend", T0, "bo@acme.com"),
            event("b3", "web.page_view", T0, "bo@acme.com", path="/pricing"),
        ],
        now=T0,
    )
    with engine.store.engine.connect() as conn:
        assert [a.card.mqa for a in find_accounts(conn, engine.models, T0)] == [True]
        later = find_accounts(conn, engine.models, T0 + 400 * DAY)
        assert [a.card.mqa for a in later] == [False]
        assert later[0].mqa_since is None
        assert find_accounts(conn, engine.models, T0 + 400 * DAY, mqa=True) == []


def test_a_contact_moving_company_leaves_the_old_account(engine: Engine) -> None:
    engine.ingest([event("a1", "demo.request", T0, "ana@acme.com")], now=T0)
    engine.ingest(
        [
            EventIn(
                "a2",
                "web.page_view",
                T0 + 60,
                PersonRef(email="ana@acme.com"),
                properties={"path": "/pricing"},
                traits={"company_domain": "globex.com", "company": "Globex"},
            )
        ],
        now=T0 + 60,
    )
    with engine.store.engine.connect() as conn:
        found = {a.domain: a for a in find_accounts(conn, engine.models, T0 + 60)}
    assert found["acme.com"].card.contacts == 0
    assert found["globex.com"].card.contacts == 1
    assert found["globex.com"].name == "Globex"


def test_the_accounts_command_lists_mqas(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from leadgrade.cli import app
    from leadgrade.workspace import Workspace

    now = time.time()  # the command values accounts at the real now
    workspace = Workspace.create(tmp_path / "w")
    engine = workspace.engine(now=now)
    engine.ingest(
        [
            event("a1", "demo.request", now, "ana@acme.com"),
            event("a2", "web.page_view", now, "ana@acme.com", path="/pricing"),
            event("b1", "form.submit", now, "bo@acme.com", form="consultation"),
            event("b2", "webinar.attend", now, "bo@acme.com"),
            event("b3", "web.page_view", now, "bo@acme.com", path="/pricing"),
            event("c1", "web.page_view", now, "cy@initech.com", path="/pricing"),
        ],
        now=now,
    )
    engine.store.close()
    runner = CliRunner()
    listed = runner.invoke(
        app, ["accounts", "--workspace", str(workspace.root), "--mqa", "--format", "jsonl"]
    )
    assert listed.exit_code == 0, listed.output
    (only,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (only["domain"], only["mqa"], only["contacts"]) == ("acme.com", True, 2)
    table = runner.invoke(app, ["accounts", "--workspace", str(workspace.root)])
    assert "2 accounts by score now" in table.stdout
    assert "1 MQA" in table.stdout
    bad = runner.invoke(app, ["accounts", "--workspace", str(workspace.root), "--sort", "x"])
    assert bad.exit_code == 2


def test_the_api_lists_accounts_and_shows_one_with_its_people(engine: Engine) -> None:
    from fastapi.testclient import TestClient

    from leadgrade.api import create_app
    from leadgrade.keys import create_key

    engine.ingest(
        [
            event("a1", "demo.request", T0, "ana@acme.com"),
            event("a2", "web.page_view", T0, "ana@acme.com", path="/pricing"),
            event("b1", "form.submit", T0, "bo@acme.com", form="consultation"),
            event("b2", "webinar.attend", T0, "bo@acme.com"),
            event("b3", "web.page_view", T0, "bo@acme.com", path="/pricing"),
            *(
                event(f"c{i}", "web.page_view", T0, f"cy@co{i}.com", path="/pricing")
                for i in range(3)
            ),
        ],
        now=T0,
    )
    with engine.store.transaction() as conn:
        _, secret = create_key(conn, "reader", ["read"], T0)
    keys = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(engine, clock=lambda: T0 + 60)) as client:
        assert client.get("/v1/accounts").status_code == 401
        listed = client.get("/v1/accounts", headers=keys).json()
        assert listed["items"][0]["domain"] == "acme.com"
        assert len(listed["items"]) == 4
        mqas = client.get("/v1/accounts", params={"mqa": "true"}, headers=keys).json()
        (acme,) = mqas["items"]
        assert (acme["mqa"], acme["contacts"], acme["engaged_contacts"]) == (True, 2, 2)
        assert acme["mqa_since"] == T0
        detail = client.get(f"/v1/accounts/{acme['id']}", headers=keys).json()
        assert [p["email"] for p in detail["people"]] == ["bo@acme.com", "ana@acme.com"]
        assert detail["engagement"] == pytest.approx(sum(p["engagement"] for p in detail["people"]))
        assert client.get("/v1/accounts/nope", headers=keys).status_code == 404
        seen, cursor = [], None
        while True:
            params = {"limit": 3, "sort": "engagement"} | ({"cursor": cursor} if cursor else {})
            page = client.get("/v1/accounts", params=params, headers=keys).json()
            seen += [a["domain"] for a in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert sorted(seen) == ["acme.com", "co0.com", "co1.com", "co2.com"]
        assert client.get("/v1/accounts", params={"sort": "x"}, headers=keys).status_code == 422


def test_activating_a_version_rolls_the_accounts_up_once(engine: Engine, template_lists) -> None:
    from pathlib import Path

    from leadgrade.versions import activate, add_version
    from leadgrade.workspace import TEMPLATE

    engine.ingest(
        [
            event("a1", "demo.request", T0, "ana@acme.com"),
            event("b1", "webinar.attend", T0, "bo@acme.com"),
        ],
        now=T0,
    )
    with engine.store.engine.connect() as conn:
        assert conn.scalar(sa.select(accounts.c.mqa_since)) is None  # 50 < 100
    text = (Path(str(TEMPLATE)) / "models" / "employer.yaml").read_text()
    lower = text.replace(
        "engagement_at_least: 100, contacts_at_least: 2",
        "engagement_at_least: 45, contacts_at_least: 2",
    )
    with engine.store.transaction() as conn:
        version, _ = add_version(conn, lower, "lower.yaml", template_lists, T0)
    seen: list[object] = []
    engine.subscribe(seen.append)
    activate(engine, version.id, template_lists, T0 + 60)
    assert [type(e) for e in seen] == [AccountBecameMQA]
    with engine.store.engine.connect() as conn:
        assert conn.scalar(sa.select(accounts.c.mqa_since)) is not None
