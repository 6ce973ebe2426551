"""CRM exports in: HubSpot contact exports, Salesforce Lead and Contact exports, and any
CSV with a column mapping (``leadgrade import FILE --from hubspot|salesforce|csv``).

Columns are found by name however the export spells them: HubSpot's labels ("Lifecycle
Stage", "Contact owner") or internal names (``lifecyclestage``), Salesforce's labels
("Email Opt Out", "Lead Owner") or API names (``HasOptedOutOfEmail``), compared without
case, spaces or punctuation; ``--map FIELD=COLUMN`` names others. Each row is a person
(by the record's id in the CRM and their e-mail) with their attributes; lifecycle stages
move their lead forward; opt-out and do-not-call columns become opt-outs in the consent
ledger; owners found among the reps of ``routing.yaml`` (by e-mail, else by name) become
the lead's owner. Protected columns (``Gender Identity``, ``Pronouns``, ``Salutation``,
birth dates; for candidates postal codes) are dropped unread.

**Idempotent.** A row is stored as a ``crm.import`` event whose id is made from the
record and its content: importing the same export again finds every row stored already
and changes nothing; a row whose content changed updates the person.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from leadgrade import audit
from leadgrade.core.attributes import attribute_name
from leadgrade.engine import STAGES, Engine, EventIn, PersonRef
from leadgrade.handoff.routing import Rep
from leadgrade.integrations.apply import Applier, Change, StageMove
from leadgrade.integrations.strip import protected
from leadgrade.integrations.values import email as read_email
from leadgrade.integrations.values import moment
from leadgrade.store.schema import accounts, identities, leads

FORMATS = ("hubspot", "salesforce", "csv")
EVENT_TYPE = "crm.import"
LABELS = {"hubspot": "HubSpot", "salesforce": "Salesforce", "csv": "CSV"}


def _key(name: str) -> str:
    """A column or value as compared: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.casefold())


#: Fields every format knows, and the columns that carry each (labels and API names).
COMMON: dict[str, tuple[str, ...]] = {
    "email": ("Email", "Email Address", "E-mail", "Primary Email"),
    "first_name": ("First Name", "firstname"),
    "last_name": ("Last Name", "lastname"),
    "job_title": ("Job Title", "jobtitle", "Title"),
    "company": ("Company Name", "Company", "Account Name", "Account.Name", "AccountName"),
    "phone": ("Phone Number", "Phone"),
    "mobile_phone": ("Mobile Phone Number", "Mobile Phone", "MobilePhone", "mobilephone"),
    "industry": ("Industry",),
    "company_size": ("Number of Employees", "numemployees", "NumberOfEmployees", "Employees"),
    "country": ("Country/Region", "Country", "MailingCountry", "Mailing Country"),
    "state": ("State/Region", "State", "State/Province", "MailingState", "Mailing State"),
    "city": ("City", "MailingCity", "Mailing City"),
    "postal_code": (
        "Postal Code",
        "Zip",
        "Zip Code",
        "Zip/Postal Code",
        "PostalCode",
        "MailingPostalCode",
    ),
    "company_domain": ("Website URL", "Website", "Company Domain Name", "website"),
    "lead_source": ("Original Source", "hs_analytics_source", "Lead Source", "LeadSource"),
    "created_at": ("Create Date", "createdate", "Created Date", "CreatedDate"),
}
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "hubspot": COMMON
    | {
        "id": ("Record ID", "Contact ID", "hs_object_id", "vid"),
        "stage": ("Lifecycle Stage", "lifecyclestage"),
        "owner": ("Contact owner", "hubspot_owner_id", "Contact Owner Email", "Owner Email"),
        "email_opt_out": (
            "Unsubscribed from all email",
            "hs_email_optout",
            "Opted out of all email",
        ),
        "do_not_call": ("Do Not Call",),
        "sms_opt_out": ("Opted out of SMS", "SMS opt out"),
    },
    "salesforce": COMMON
    | {
        "id": ("Id", "Lead ID", "Contact ID", "Record ID", "Lead Id", "Contact Id"),
        "stage": ("Lead Status", "Status"),
        "owner": (
            "Owner.Email",
            "Owner Email",
            "Lead Owner Email",
            "Contact Owner Email",
            "Lead Owner",
            "Contact Owner",
        ),
        "email_opt_out": ("Email Opt Out", "HasOptedOutOfEmail"),
        "do_not_call": ("Do Not Call", "DoNotCall"),
    },
    "csv": {
        name: (name,)
        for name in (
            "id",
            "email",
            "stage",
            "owner",
            "email_opt_out",
            "do_not_call",
            "sms_opt_out",
            "created_at",
        )
    },
}
#: Lifecycle stages and lead statuses → leadgrade stages (compared as :func:`_key` does:
#: HubSpot's labels and internal values are one key).
STAGE_MAPS: dict[str, dict[str, str | None]] = {
    "hubspot": {
        "subscriber": "lead",
        "lead": "lead",
        "marketingqualifiedlead": "mql",
        "salesqualifiedlead": "sql",
        "opportunity": "opportunity",
        "customer": "won",
        "evangelist": "won",
        "other": None,
    },
    "salesforce": {
        "new": "lead",
        "opennotcontacted": "lead",
        "workingcontacted": "sal",
        "working": "sal",
        "qualified": "sql",
        "closedconverted": "opportunity",
        "converted": "opportunity",
        # A lead the CRM closed stays where leadgrade has it: imports move leads forward.
        "unqualified": None,
        "closednotconverted": None,
    },
    "csv": {stage: stage for stage in STAGES},
}
#: Fields that are not person attributes.
SPECIAL = ("id", "stage", "owner", "created_at")
FLAGS = ("email_opt_out", "do_not_call", "sms_opt_out")
_TRUE = frozenset({"true", "yes", "y", "1", "x", "t", "on", "checked"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", "", "unchecked"})


class ImportError_(ValueError):
    """A file or a mapping leadgrade cannot read; the message names the file, the line
    and the column when there is one (the CLI's exit code 2)."""


@dataclass
class Plan:
    """How a file's columns are read: the column of each known field, the other columns
    kept as attributes, and the columns dropped as protected."""

    fmt: str
    columns: dict[str, str]
    extra: dict[str, str]  # column → attribute name
    stripped: list[str]


def plan(fmt: str, headers: Sequence[str], maps: Mapping[str, str], *, candidates: bool) -> Plan:
    """Read ``headers`` as ``fmt`` exports name them, ``maps`` (field → column) first."""
    if fmt not in FORMATS:
        raise ImportError_(f"--from {fmt!r}: use one of {', '.join(FORMATS)}")
    by_key = {_key(h): h for h in headers if h}
    columns: dict[str, str] = {}
    for name, column in maps.items():
        found = by_key.get(_key(column))
        if found is None:
            raise ImportError_(
                f"--map {name}={column}: the file has no column {column!r} "
                f"(it has {', '.join(repr(h) for h in headers)})"
            )
        columns[attribute_name(name) or name] = found
    for name, names in COLUMNS[fmt].items():
        if name in columns:
            continue
        for candidate in (*names, name):
            found = by_key.get(_key(candidate))
            if found is not None and found not in columns.values():
                columns[name] = found
                break
    used = set(columns.values())
    stripped = [
        h
        for h in headers
        if h
        and (
            protected(h, fmt, candidates=candidates)
            or (h in used and protected(_field_of(columns, h), fmt, candidates=candidates))
        )
    ]
    for name in list(columns):
        if columns[name] in stripped:
            del columns[name]
    extra = {
        h: attribute_name(h) or h
        for h in headers
        if h and h not in used and h not in stripped and attribute_name(h)
    }
    return Plan(fmt, columns, extra, stripped)


def _field_of(columns: Mapping[str, str], header: str) -> str:
    return next((name for name, h in columns.items() if h == header), header)


@dataclass
class Row:
    line: int
    record: str | None  # the id in the CRM
    email: str | None
    traits: dict[str, Any]
    stage: str | None  # as the file says it
    owner: str | None
    occurred: float | None


def read_row(found: Plan, raw: Mapping[str, str | None], line: int) -> Row:
    def cell(name: str) -> str:
        column = found.columns.get(name)
        value = raw.get(column) if column else None
        return (value or "").strip()

    traits: dict[str, Any] = {}
    for name in found.columns:
        if name in SPECIAL or name == "email":
            continue
        value = cell(name)
        if name in FLAGS:
            flag = _flag(value)
            if flag is not None:
                traits[name] = flag
            continue
        if value:
            traits[name] = _number(value) if name == "company_size" else value
    for column, name in found.extra.items():
        value = (raw.get(column) or "").strip()
        if value and name not in traits:
            traits[name] = value
    if "company_domain" in traits:
        traits["company_domain"] = _domain(str(traits["company_domain"]))
    address = read_email(cell("email"))
    if address:
        traits["email"] = address
    return Row(
        line=line,
        record=cell("id") or None,
        email=address,
        traits={k: v for k, v in traits.items() if v not in (None, "")},
        stage=cell("stage") or None,
        owner=cell("owner") or None,
        occurred=moment(cell("created_at")) if cell("created_at") else None,
    )


def _flag(value: str) -> bool | None:
    key = value.strip().casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False if key else None
    return None


def _number(value: str) -> Any:
    text = value.replace(",", "").strip()
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return value


def _domain(value: str) -> str | None:
    from urllib.parse import urlsplit

    host = urlsplit(value if "//" in value else "//" + value).hostname or ""
    return host.lower().removeprefix("www.") or None


# ------------------------------------------------------------------------ importing


@dataclass
class Summary:
    """What an import did, for the CLI's last line."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    moved: int = 0
    owners: int = 0
    unknown_owners: Counter[str] = field(default_factory=Counter)
    unknown_stages: Counter[str] = field(default_factory=Counter)
    opt_outs: Counter[str] = field(default_factory=Counter)
    stripped: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": sum(self.skipped.values()),
            "skipped_why": dict(self.skipped),
            "stage_moves": self.moved,
            "owners_set": self.owners,
            "unknown_owners": dict(self.unknown_owners),
            "unknown_stages": dict(self.unknown_stages),
            "opt_outs": dict(self.opt_outs),
            "protected_columns_dropped": self.stripped,
        }


@contextmanager
def rows_of(
    path: Path,
) -> Iterator[tuple[list[str], Iterator[tuple[int, dict[str, str | None]]]]]:
    """The header and the rows (with their line numbers) of a CSV export."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ImportError_(f"{path}: cannot be read: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            headers = list(reader.fieldnames or [])
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportError_(f"{path}:1: not a readable CSV header: {exc}") from None
        if not headers:
            raise ImportError_(f"{path}: the file is empty; a CSV export starts with its header")

        def rows() -> Iterator[tuple[int, dict[str, str | None]]]:
            try:
                for raw in reader:
                    yield reader.line_num, raw
            except (csv.Error, UnicodeDecodeError) as exc:
                raise ImportError_(f"{path}:{reader.line_num + 1}: {exc}") from None

        yield headers, rows()


class Importer:
    """Imports one CRM export into ``audience`` (see the module)."""

    def __init__(
        self,
        engine: Engine,
        fmt: str,
        *,
        audience: str,
        reps: Mapping[str, Rep] | None = None,
        maps: Mapping[str, str] | None = None,
        batch_size: int = 1000,
    ) -> None:
        if fmt not in FORMATS:
            raise ImportError_(f"--from {fmt!r}: use one of {', '.join(FORMATS)}")
        self.engine = engine
        self.fmt = fmt
        self.audience = audience
        self.maps = dict(maps or {})
        self.batch_size = batch_size
        self.system = fmt
        self.source = f"import:{fmt}"
        self.applier = Applier(engine, self.source)
        self.reps = dict(reps or (self.applier.handoff.routing.reps))
        model = engine.models.get(audience)
        # A candidate audience: postal codes are proxies too (docs/compliance.md).
        self.candidates = model.kind == "candidate" if model is not None else audience != "employer"

    def run(
        self,
        path: Path,
        now: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Summary:
        now = time.time() if now is None else now
        with rows_of(path) as (headers, rows):
            found = plan(self.fmt, headers, self.maps, candidates=self.candidates)
            summary = Summary(stripped=found.stripped)
            chunk: list[Row] = []
            for line, raw in rows:
                summary.rows += 1
                row = read_row(found, raw, line)
                if not row.record and not row.email:
                    summary.skipped["no e-mail or id"] += 1
                    continue
                chunk.append(row)
                if len(chunk) >= self.batch_size:
                    self._chunk(chunk, now, summary)
                    chunk = []
                if progress is not None:
                    progress(summary.rows)
            if chunk:
                self._chunk(chunk, now, summary)
        return summary

    def _person(self, row: Row) -> PersonRef:
        return PersonRef(
            email=row.email,
            system=self.system if row.record else None,
            external_id=row.record,
        )

    def _event(self, row: Row, now: float) -> EventIn:
        content = json.dumps(
            {"traits": row.traits, "stage": row.stage, "owner": row.owner},
            sort_keys=True,
            default=str,
        )
        digest = hashlib.sha256(content.encode()).hexdigest()[:20]
        who = row.record or row.email or ""
        if len(who) > 120:
            who = hashlib.sha256(who.encode()).hexdigest()[:32]
        return EventIn(
            id=f"{self.source}:{who}:{digest}",
            type=EVENT_TYPE,
            occurred_at=row.occurred or now,
            person=self._person(row),
            audience=self.audience,
            properties={"source": self.fmt, "line": row.line},
            traits=row.traits,
            source=self.fmt,
        )

    def _chunk(self, chunk: list[Row], now: float, summary: Summary) -> None:
        batch = [self._event(row, now) for row in chunk]
        known = self._known(chunk)
        result = self.engine.ingest(batch, now)
        moves: list[StageMove] = []
        owned: list[tuple[Row, str]] = []
        seen: set[str] = set()
        for row, event in zip(chunk, batch, strict=True):
            if event.id in result.refused:
                summary.skipped["erased person"] += 1
                continue
            if event.id not in result.inserted or event.id in seen:
                summary.unchanged += 1  # stored before (a re-import), or twice in the file
                continue
            seen.add(event.id)
            if self._named(row) & known:
                summary.updated += 1
            else:
                summary.created += 1
                known |= self._named(row)
            for flag in FLAGS:
                if row.traits.get(flag) is True:
                    summary.opt_outs[flag] += 1
            stages = STAGE_MAPS[self.fmt]
            if row.stage and _key(row.stage) not in stages:
                summary.unknown_stages[row.stage] += 1
            elif row.stage:
                stage = stages[_key(row.stage)]
                if stage is not None:
                    moves.append(
                        StageMove(
                            self._person(row),
                            self.audience,
                            stage,
                            event.id,
                            f"{LABELS[self.fmt]} import: {row.stage}",
                        )
                    )
            if row.owner:
                rep = self._rep(row.owner)
                if rep is None:
                    summary.unknown_owners[row.owner] += 1
                else:
                    owned.append((row, rep))
        if moves:
            outcome = self.applier.apply([Change(moves=moves)], now)
            summary.moved += outcome.moved
        for row, rep in owned:
            summary.owners += self._own(row, rep, now)

    def _named(self, row: Row) -> set[tuple[str, str]]:
        names = set()
        if row.record:
            names.add((self.system, row.record))
        if row.email:
            names.add(("email", row.email))
        return names

    def _known(self, chunk: Sequence[Row]) -> set[tuple[str, str]]:
        records = sorted({row.record for row in chunk if row.record})
        emails = sorted({row.email for row in chunk if row.email})
        found: set[tuple[str, str]] = set()
        with self.engine.store.engine.connect() as conn:
            for kind, values in ((self.system, records), ("email", emails)):
                for start in range(0, len(values), 500):
                    part = values[start : start + 500]
                    found |= {
                        (kind, value)
                        for value in conn.scalars(
                            sa.select(identities.c.value).where(
                                identities.c.kind == kind, identities.c.value.in_(part)
                            )
                        )
                    }
        return found

    def _rep(self, owner: str) -> str | None:
        """The rep an owner cell names: by e-mail, else by name or rep id."""
        wanted = owner.strip().casefold()
        for rep_id, rep in self.reps.items():
            address = (rep.spec.email or "").casefold()
            if wanted in (address, rep_id.casefold(), rep.spec.name.casefold()) and wanted:
                return rep_id
        return None

    def _own(self, row: Row, rep: str, now: float) -> int:
        """The CRM's owner becomes the lead's owner when it has none (and the account's):
        no new SLA clock, since the CRM's owner already has the relationship."""
        with self.engine.store.transaction() as conn:
            person = self.applier.person_of(conn, self._person(row))
            lead = conn.execute(
                sa.select(leads.c.id, leads.c.owner, leads.c.account_id).where(
                    leads.c.person_id == person, leads.c.audience == self.audience
                )
            ).one_or_none()
            if lead is None or lead.owner is not None:
                return 0
            conn.execute(sa.update(leads).where(leads.c.id == lead.id).values(owner=rep))
            if lead.account_id is not None:
                conn.execute(
                    sa.update(accounts)
                    .where(accounts.c.id == lead.account_id, accounts.c.owner.is_(None))
                    .values(owner=rep)
                )
            details = {"owner": rep, "reason": f"owner in the {LABELS[self.fmt]} export"}
            audit.record(conn, self.source, "lead.assigned", lead.id, details, now)
        return 1
