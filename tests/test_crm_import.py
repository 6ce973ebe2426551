"""CRM exports in: HubSpot and Salesforce exports (labels and API names), a generic CSV
with a mapping; stages, opt-outs, owners, protected columns, and re-imports that change
nothing. Files are written in the shape the CRMs export them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from leadgrade.cli import app as cli
from leadgrade.core import Model
from leadgrade.engine import AudienceMap, Engine
from leadgrade.handoff.routing import load_routing
from leadgrade.handoff.service import Handoff
from leadgrade.integrations.crm_import import Importer, ImportError_, plan
from leadgrade.privacy import optout
from leadgrade.store import Store
from leadgrade.store.schema import (
    audit_log,
    consents,
    events,
    identities,
    leads,
    people,
    stage_changes,
)
from leadgrade.workspace import TEMPLATE, Workspace

NOW = 1_790_812_800.0

HUBSPOT = [
    [
        "Record ID",
        "First Name",
        "Last Name",
        "Email",
        "Job Title",
        "Company Name",
        "Phone Number",
        "Lifecycle Stage",
        "Contact owner",
        "Industry",
        "Number of Employees",
        "Country/Region",
        "State/Region",
        "Postal Code",
        "Website URL",
        "Unsubscribed from all email",
        "Create Date",
        "Date of birth",
        "Hiring Volume",
    ],
    [
        "501",
        "Dana",
        "Whitfield",
        "Dana.Whitfield@Acme-Health.com",
        "VP Talent Acquisition",
        "Acme Health",
        "617-555-0199",
        "Marketing Qualified Lead",
        "maya@firm.example",
        "Hospital & Health Care",
        "2,400",
        "United States",
        "MA",
        "02110",
        "https://www.acme-health.com",
        "false",
        "2026-03-05 14:22",
        "1979-02-01",
        "40+",
    ],
    [
        "502",
        "Luis",
        "Ortega",
        "luis@northwind.io",
        "Recruiting Manager",
        "Northwind",
        "",
        "customer",
        "Priya Nair",
        "Logistics",
        "180",
        "United States",
        "TX",
        "75201",
        "northwind.io",
        "true",
        "2026-04-10 09:00",
        "",
        "5-10",
    ],
    [
        "503",
        "Kim",
        "Lee",
        "kim.lee@example.org",
        "Office Manager",
        "Small Dental",
        "",
        "Subscriber",
        "someone@elsewhere.example",
        "Dental",
        "8",
        "United States",
        "OH",
        "43004",
        "",
        "",
        "2026-05-01 10:00",
        "",
        "",
    ],
    [
        "504",
        "No",
        "Email",
        "",
        "Buyer",
        "Unknown Co",
        "",
        "Lead",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
    ["", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],
]

SALESFORCE_API = [
    [
        "Id",
        "Salutation",
        "FirstName",
        "LastName",
        "Email",
        "Title",
        "Company",
        "Status",
        "Owner.Email",
        "HasOptedOutOfEmail",
        "DoNotCall",
        "GenderIdentity",
        "Pronouns",
        "NumberOfEmployees",
        "Industry",
        "LeadSource",
        "CreatedDate",
    ],
    [
        "00Q5e00000AbCdE",
        "Ms.",
        "Grace",
        "Hopper",
        "grace@harbor-logistics.com",
        "Director of HR",
        "Harbor Logistics",
        "Working - Contacted",
        "JORDAN@firm.example",
        "0",
        "1",
        "Woman",
        "she/her",
        "650",
        "Transportation",
        "Web",
        "2026-06-01T12:00:00.000+0000",
    ],
    [
        "00Q5e00000FgHiJ",
        "Mr.",
        "Omar",
        "Haddad",
        "omar@ridge.example",
        "CFO",
        "Ridge Co",
        "Open - Not Contacted",
        "",
        "1",
        "0",
        "",
        "",
        "90",
        "Finance",
        "Trade Show",
        "2026-06-02T12:00:00.000+0000",
    ],
]

SALESFORCE_LABELS = [
    [
        "Lead ID",
        "First Name",
        "Last Name",
        "Email",
        "Title",
        "Company / Account",
        "Lead Status",
        "Lead Owner",
        "Email Opt Out",
        "Do Not Call",
        "Gender Identity",
    ],
    [
        "00Q5e00000ZzZzZ",
        "Ada",
        "Byron",
        "ada@engines.example",
        "Head of People",
        "Engines Ltd",
        "Qualified",
        "Sam Okafor",
        "1",
        "0",
        "Woman",
    ],
]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


# ---------------------------------------------------------------------- columns


def test_columns_are_found_by_label_or_api_name_and_protected_ones_are_dropped() -> None:
    hubspot = plan("hubspot", HUBSPOT[0], {}, candidates=False)
    assert hubspot.columns["id"] == "Record ID"
    assert hubspot.columns["stage"] == "Lifecycle Stage"
    assert hubspot.columns["owner"] == "Contact owner"
    assert hubspot.columns["email_opt_out"] == "Unsubscribed from all email"
    assert hubspot.columns["postal_code"] == "Postal Code"  # employers: a sales territory
    assert hubspot.extra == {"Hiring Volume": "hiring_volume"}
    assert hubspot.stripped == ["Date of birth"]
    salesforce = plan("salesforce", SALESFORCE_API[0], {}, candidates=False)
    assert salesforce.columns["owner"] == "Owner.Email"
    assert salesforce.columns["do_not_call"] == "DoNotCall"
    assert salesforce.columns["company_size"] == "NumberOfEmployees"
    assert salesforce.stripped == ["Salutation", "GenderIdentity", "Pronouns"]
    labels = plan(
        "salesforce", SALESFORCE_LABELS[0], {"company": "company / account"}, candidates=False
    )
    assert labels.columns["company"] == "Company / Account"
    assert labels.columns["stage"] == "Lead Status"
    # for candidates a postal code is a proxy and is dropped too
    assert "Postal Code" in plan("hubspot", HUBSPOT[0], {}, candidates=True).stripped
    with pytest.raises(ImportError_, match="no column 'Mail'"):
        plan("csv", ["E-mail"], {"email": "Mail"}, candidates=False)


# ------------------------------------------------------------------ the importer


@pytest.fixture
def engine(store: Store, shipped_models: dict[str, Model], template_lists: Any) -> Engine:
    found = Engine(store, shipped_models, AudienceMap((), ("employer",)))
    routing = load_routing(Path(str(TEMPLATE)) / "routing.yaml", template_lists)
    Handoff(found, routing)
    optout.install(found)
    return found


def count(engine: Engine, table: sa.Table, *where: Any) -> int:
    with engine.store.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0


def person(engine: Engine, email: str) -> Any:
    with engine.store.engine.connect() as conn:
        found = conn.scalar(
            sa.select(identities.c.person_id).where(
                identities.c.kind == "email", identities.c.value == email
            )
        )
        attributes = conn.scalar(sa.select(people.c.attributes).where(people.c.id == found))
        lead = conn.execute(sa.select(leads).where(leads.c.person_id == found)).one()
        opted = sorted(
            (row.channel, row.status)
            for row in conn.execute(sa.select(consents).where(consents.c.person_id == found))
        )
    return attributes, lead, opted


def test_a_hubspot_export_imports_and_importing_it_again_changes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "hubspot-contacts.csv", HUBSPOT)
    summary = Importer(engine, "hubspot", audience="employer").run(path, NOW)
    report = summary.report()
    assert (report["rows"], report["created"], report["updated"], report["unchanged"]) == (
        5,
        4,
        0,
        0,
    )
    assert report["skipped_why"] == {"no e-mail or id": 1}  # the blank line
    assert report["unknown_owners"] == {"someone@elsewhere.example": 1}
    assert report["protected_columns_dropped"] == ["Date of birth"]
    attributes, lead, opted = person(engine, "dana.whitfield@acme-health.com")
    assert attributes["job_title"] == "VP Talent Acquisition"
    assert attributes["company_size"] == 2400
    assert attributes["company_domain"] == "acme-health.com"
    assert attributes["hiring_volume"] == "40+"
    assert attributes["email_opt_out"] is False
    assert "date_of_birth" not in attributes
    assert "1979" not in json.dumps(attributes)
    assert (lead.stage, lead.owner) == ("mql", "maya")  # the owner found by e-mail
    assert opted == []
    attributes, lead, opted = person(engine, "luis@northwind.io")
    assert (lead.stage, lead.owner) == ("won", "priya")  # customer; the owner by name
    assert opted == [("email", "opted_out")]  # "Unsubscribed from all email": suppressed
    with engine.store.engine.connect() as conn:
        assigned = conn.scalar(
            sa.select(sa.func.count())
            .select_from(audit_log)
            .where(audit_log.c.action == "lead.assigned", audit_log.c.actor == "import:hubspot")
        )
    assert assigned == 2
    # No e-mail, but the record's id: still a person, found by it next time.
    assert count(engine, identities, identities.c.kind == "hubspot") == 4

    before = {
        t.name: count(engine, t) for t in (events, people, stage_changes, consents, audit_log)
    }
    again = Importer(engine, "hubspot", audience="employer").run(path, NOW + 60).report()
    assert (again["created"], again["updated"], again["unchanged"], again["stage_moves"]) == (
        0,
        0,
        4,
        0,
    )
    after = {t.name: count(engine, t) for t in (events, people, stage_changes, consents, audit_log)}
    assert after == before


def test_a_changed_row_updates_its_person(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "contacts.csv", HUBSPOT[:2])
    Importer(engine, "hubspot", audience="employer").run(path, NOW)
    changed = [list(HUBSPOT[0]), list(HUBSPOT[1])]
    changed[1][4] = "Chief People Officer"
    changed[1][7] = "Opportunity"
    path = write_csv(tmp_path / "contacts-2.csv", changed)
    report = Importer(engine, "hubspot", audience="employer").run(path, NOW).report()
    assert (report["created"], report["updated"], report["stage_moves"]) == (0, 1, 1)
    attributes, lead, _ = person(engine, "dana.whitfield@acme-health.com")
    assert (attributes["job_title"], lead.stage) == ("Chief People Officer", "opportunity")
    assert count(engine, people) == 1


def test_salesforce_exports_by_api_names_and_by_labels(engine: Engine, tmp_path: Path) -> None:
    api = write_csv(tmp_path / "leads-api.csv", SALESFORCE_API)
    report = Importer(engine, "salesforce", audience="employer").run(api, NOW).report()
    assert (report["created"], report["stage_moves"], report["owners_set"]) == (2, 1, 1)
    assert report["opt_outs"] == {"do_not_call": 1, "email_opt_out": 1}
    assert report["protected_columns_dropped"] == ["Salutation", "GenderIdentity", "Pronouns"]
    attributes, lead, opted = person(engine, "grace@harbor-logistics.com")
    assert (lead.stage, lead.owner) == ("sal", "jordan")  # Owner.Email, any case
    assert opted == [("phone", "opted_out")]  # DoNotCall
    stored = json.dumps(attributes)
    assert "she/her" not in stored
    assert "Woman" not in stored
    assert "Ms." not in stored
    _, lead, opted = person(engine, "omar@ridge.example")
    assert lead.stage == "lead"
    assert opted == [("email", "opted_out")]
    assert (
        Importer(engine, "salesforce", audience="employer").run(api, NOW).report()["unchanged"] == 2
    )

    labels = write_csv(tmp_path / "leads-labels.csv", SALESFORCE_LABELS)
    report = (
        Importer(engine, "salesforce", audience="employer", maps={"company": "Company / Account"})
        .run(labels, NOW)
        .report()
    )
    assert (report["created"], report["owners_set"]) == (1, 1)
    attributes, lead, opted = person(engine, "ada@engines.example")
    assert (lead.stage, lead.owner, attributes["company"]) == ("sql", "sam", "Engines Ltd")
    assert "gender_identity" not in attributes


# ------------------------------------------------------------------------- the CLI


@pytest.fixture
def workspace(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    return Workspace.create(in_tmp / "firm")


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_leadgrade_import_prints_a_summary_and_a_generic_csv_needs_a_mapping(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "hubspot.csv", HUBSPOT)
    root = ["--workspace", str(workspace.root)]
    result = run("import", str(path), "--from", "hubspot", *root)
    assert result.exit_code == 0, result.output
    assert "hubspot.csv: 4 created, 0 updated, 0 unchanged, 1 skipped" in result.output
    assert "owners not in routing.yaml: someone@elsewhere.example" in result.output
    assert "protected columns dropped unread: Date of birth" in result.output
    again = run("import", str(path), "--from", "hubspot", "--json", *root)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout[: again.stdout.rindex("}") + 1])["unchanged"] == 4

    generic = write_csv(
        tmp_path / "list.csv",
        [
            ["E-mail Address", "Role", "Employer", "Pipeline", "Gender"],
            ["max@contoso.example", "HR Director", "Contoso", "sql", "M"],
        ],
    )
    maps = ["--map", "email=e-mail address", "--map", "job_title=Role", "--map", "stage=Pipeline"]
    result = run("import", str(generic), *maps, "--json", *root)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert (report["created"], report["stage_moves"]) == (1, 1)
    assert report["protected_columns_dropped"] == ["Gender"]

    bad = run("import", str(generic), "--map", "email=Mail", *root)
    assert bad.exit_code == 2
    assert "no column 'Mail'" in bad.output
    unknown = run("import", str(generic), "--map", "nonsense", *root)
    assert unknown.exit_code == 2
    wrong = run("import", str(generic), "--audience", "alumni", *root)
    assert wrong.exit_code == 2
    assert "no model for it" in wrong.output
