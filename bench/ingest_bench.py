"""Benchmark ingestion: the engine in-process, the HTTP API, and rescoring after a model
version is activated, each beside a baseline measured in the same run.

1. **ingest** — ``Engine.ingest`` of ``--events`` generated events (default 200,000 over
   about 40,000 people) in batches of 1,000, on a fresh SQLite file and on a fresh
   PostgreSQL schema, the engine built as ``Workspace.engine()`` builds it from the
   template workspace. Baseline: the very rows the engine stored in ``events`` (read back
   afterwards), inserted into a fresh store of the same kind in the same batches, one
   transaction a batch: SQLAlchemy ``conn.execute(insert(events), rows)`` (executemany) on
   both, and psycopg's ``COPY … FROM STDIN`` on PostgreSQL.
2. **http** — ``leadgrade serve`` on SQLite as a subprocess; a closed-loop load generator
   with ``--concurrency`` (50) connections in another process sends ``--requests``
   single-event POSTs to ``/v1/events``, then the same to ``/v1/events?dry_run=true``
   (parse and validate only: the ceiling). Requests/s and p50/p90/p99 latency.
3. **rescore** — a store with ``--leads`` (100,000) employer leads, ingested by the engine;
   a changed employer model is added with ``versions.add_version`` and activated with
   ``versions.activate`` (as ``leadgrade models activate`` does); the time to rescore.

Every figure is printed with the issue's target beside it and PASS/MISS; a miss is a
result, not an error. The numbers also go to ``ingest_bench.json`` in ``--out``. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from leadgrade import sample
from leadgrade.core import ModelError
from leadgrade.engine import Engine, EventIn, PeopleMerged, PersonRef
from leadgrade.keys import create_key
from leadgrade.store import Store
from leadgrade.store.schema import events, identities, leads, people
from leadgrade.versions import activate, add_version
from leadgrade.workspace import Workspace, WorkspaceError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POSTGRES_URL = os.environ.get(
    "LEADGRADE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: "Now" for the in-process parts: events lie in the six months before it.
NOW = sample.AS_OF.timestamp()
SPAN_SECONDS = 180 * 86_400
BATCH = 1000

# The targets.
TARGET_INGEST_RATE = 25_000  # events/s, in-process, on each store
TARGET_INGEST_SHARE = 0.40  # of the baseline's rate
TARGET_HTTP_RATE = 2_000  # events/s, single-event requests
TARGET_HTTP_P99 = 0.025  # seconds
TARGET_RESCORE_SECONDS = 10.0  # for 100,000 leads

FULL = {"events": 200_000, "requests": 20_000, "warmup": 2_000, "leads": 100_000}
QUICK = {"events": 10_000, "requests": 1_000, "warmup": 200, "leads": 5_000}


class BenchError(Exception):
    """Something that stops the benchmark (a server that does not start, a lost event)."""


# ------------------------------------------------------------------------------- data
#
# People are employer contacts (hiring managers) and candidates (job seekers), drawn from
# the bundled sample's vocabularies. Each event goes to a person drawn with a heavy-tailed
# weight (a few busy people, many with one or two events), at a time uniformly spread over
# the six months before NOW; the events then arrive in a random order (backfill-like:
# occurrence times are not in arrival order). Some people first browse anonymously: their
# page views before the first form they fill in carry only an anonymous id, that form
# carries the anonymous id and the e-mail (so the engine merges the two people when the
# anonymous events arrived first), and later page views carry both. Forms, registrations
# and applications carry traits (title, company size … or job category, skills …).

EMPLOYER_TYPES = (
    ("web.page_view", 46),
    ("email.open", 12),
    ("email.click", 9),
    ("content.download", 8),
    ("social.engage", 8),
    ("form.submit", 6),
    ("webinar.register", 4),
    ("webinar.attend", 3),
    ("demo.request", 1),
    ("email.unsubscribe", 1),
)
EMPLOYER_PATHS = (
    ("/", 20),
    ("/blog/hiring-trends-2026", 12),
    ("/blog/contract-vs-direct-hire", 8),
    ("/about", 6),
    ("/contact", 4),
    ("/services/healthcare-staffing", 8),
    ("/services/it-staffing", 6),
    ("/services/rpo", 4),
    ("/pricing", 6),
    ("/pricing/contract-staffing", 3),
    ("/careers", 1),  # an employer on the careers page: feeds the candidate audience too
)
EMPLOYER_FORMS = (
    ("contact", 30),
    ("newsletter", 25),
    ("consultation", 20),
    ("request_proposal", 10),
    ("job_order", 15),
)
ASSETS = (
    ("salary_guide", 20),
    ("hiring_report", 15),
    ("workforce_plan", 5),
    ("case_study", 20),
    ("checklist", 15),
    ("ebook", 15),
    ("webinar_recording", 10),
)
CANDIDATE_TYPES = (
    ("web.page_view", 38),
    ("email.open", 12),
    ("email.click", 10),
    ("job.apply", 10),
    ("job.save", 5),
    ("job.alert_signup", 4),
    ("form.submit", 4),
    ("assessment.complete", 4),
    ("email.reply", 5),
    ("sms.reply", 5),
    ("email.unsubscribe", 1),
)
CANDIDATE_PATHS = (
    ("/jobs", 15),
    ("/jobs/search", 10),
    ("/jobs/{job}", 50),
    ("/careers", 10),
    ("/blog/resume-tips", 10),
    ("/", 5),  # the home page: a default (employer) event
)
#: E-mail events of candidate campaigns name their audience (the e-mail tool knows it).
CANDIDATE_EMAIL = ("email.open", "email.click", "email.unsubscribe")
TRAIT_TYPES = {
    "employer": ("form.submit", "demo.request", "webinar.register"),
    "candidate": ("job.apply", "job.alert_signup", "form.submit"),
}
WEB_CHANNELS = (
    ("organic_search", "google", None),
    ("paid_search", "google", "brand-2026"),
    ("social", "linkedin", "q3-salary-guide"),
    ("referral", "partner", None),
    ("direct", None, None),
)


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Person:
    kind: str  # employer or candidate
    email: str
    anonymous_id: str | None  # browses anonymously before identifying
    traits: dict[str, object]


@dataclass
class Gen:
    """One generated event: the engine's EventIn and the API's JSON body from one place."""

    id: str
    type: str
    at: float  # seconds, millisecond resolution
    email: str | None
    anonymous_id: str | None
    audience: str | None = None
    properties: dict[str, object] = field(default_factory=dict)
    traits: dict[str, object] = field(default_factory=dict)
    channel: str | None = None
    source: str | None = None
    campaign: str | None = None
    first: bool = False  # the event that makes its person's lead (``everyone`` data sets)

    def event(self) -> EventIn:
        return EventIn(
            id=self.id,
            type=self.type,
            occurred_at=self.at,
            person=PersonRef(email=self.email, anonymous_id=self.anonymous_id),
            audience=self.audience,
            properties=self.properties,
            traits=self.traits,
            channel=self.channel,
            source=self.source,
            campaign=self.campaign,
        )

    def body(self) -> dict[str, object]:
        moment = datetime.fromtimestamp(self.at, UTC)
        out: dict[str, object] = {
            "id": self.id,
            "type": self.type,
            "occurred_at": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        optional = {
            "email": self.email,
            "anonymous_id": self.anonymous_id,
            "audience": self.audience,
            "properties": self.properties,
            "traits": self.traits,
            "channel": self.channel,
            "source": self.source,
            "campaign": self.campaign,
        }
        out.update({k: v for k, v in optional.items() if v})
        return out


@dataclass(frozen=True)
class Company:
    name: str
    domain: str
    size: int
    industry: str
    state: str


def make_companies(rng: random.Random, count: int) -> tuple[list[Company], list[float]]:
    """``count`` client companies (the sample's 200 names, then numbered ones) and the
    cumulative weights with which a contact works at each: a few have many contacts."""
    names = [f"{w} {k}" for w in sample.COMPANY_WORDS for k in sample.COMPANY_KINDS]
    companies = []
    for i in range(count):
        name = names[i % len(names)] + ("" if i < len(names) else f" {i // len(names) + 1}")
        companies.append(
            Company(
                name,
                "".join(ch for ch in name.lower() if ch.isalnum()) + ".example",
                max(2, int(math.exp(rng.gauss(5.3, 1.6)))),
                _pick(rng, sample.INDUSTRIES),
                _pick(rng, sample.STATES),
            )
        )
    weights = [min(rng.paretovariate(1.2), 100.0) for _ in companies]
    return companies, list(itertools.accumulate(weights))


def _person(
    rng: random.Random,
    n: int,
    kind: str,
    anon_share: float,
    companies: tuple[list[Company], list[float]],
) -> Person:
    first, last = rng.choice(sample.FIRST), rng.choice(sample.LAST)
    state = _pick(rng, sample.STATES)
    traits: dict[str, object]
    if kind == "employer":
        company = rng.choices(companies[0], cum_weights=companies[1])[0]
        roll = rng.random()
        domain = (
            rng.choice(sample.COMPETITORS)
            if roll < 0.01
            else rng.choice(sample.FREE_DOMAINS)
            if roll < 0.11
            else company.domain
        )
        title = f"{_pick(rng, sample.SENIORITY)} {_pick(rng, sample.FUNCTION)}"
        traits = {
            "first_name": first,
            "last_name": last,
            "job_title": title.strip().rstrip(","),
            "company": company.name,
            "company_size": company.size,
            "industry": company.industry,
            "state": company.state,
            "country": "US",
        }
    else:
        domain = rng.choice(sample.FREE_DOMAINS)
        category = _pick(rng, sample.CATEGORIES)
        traits = {
            "first_name": first,
            "last_name": last,
            "job_category": category,
            "skills": rng.choice(sample.SKILLS[category]),
            "city": sample.CITIES[state],
            "state": state,
            "country": "US",
        }
    anonymous = f"anon-{rng.getrandbits(64):016x}" if rng.random() < anon_share else None
    return Person(kind, f"{first}.{last}.{n}@{domain}".lower(), anonymous, traits)


def _shape(rng: random.Random, person: Person, event: Gen) -> None:
    """Fill in an event's type, properties and channel for its person's kind."""
    kind = person.kind
    event.type = _pick(rng, EMPLOYER_TYPES if kind == "employer" else CANDIDATE_TYPES)
    props: dict[str, object] = {}
    if event.type == "web.page_view":
        path = _pick(rng, EMPLOYER_PATHS if kind == "employer" else CANDIDATE_PATHS)
        props["path"] = path.replace("{job}", str(rng.randrange(1000, 9999)))
        if rng.random() < 0.4:
            props["referrer"] = "https://www.google.com/"
        event.channel, event.source, event.campaign = rng.choice(WEB_CHANNELS)
    elif event.type.startswith(("email.", "sms.")):
        event.channel, event.source = "email", "nurture"
        event.campaign = f"{kind}-nurture-{rng.randrange(1, 13):02d}"
        if kind == "candidate" and event.type in CANDIDATE_EMAIL:
            event.audience = "candidate"
    elif event.type == "content.download":
        props["asset_type"] = _pick(rng, ASSETS)
        props["asset"] = f"asset-{rng.randrange(40)}"
    elif event.type == "form.submit":
        if kind == "employer":
            props["form"] = _pick(rng, EMPLOYER_FORMS)
            props["path"] = "/contact"
        elif rng.random() < 0.8:
            props["form"] = "talent_community"
        else:
            props["form"] = "resume_upload"
            props["path"] = "/careers/upload"
    elif event.type.startswith("webinar."):
        props["webinar"] = f"hiring-trends-{rng.randrange(1, 7)}"
    elif event.type.startswith("job."):
        props["job_id"] = f"J{rng.randrange(1000, 9999)}"
    event.properties = props


def _careers(event: Gen) -> bool:
    path = event.properties.get("path")
    return isinstance(path, str) and path.startswith(("/careers", "/jobs"))


@dataclass(frozen=True)
class Dataset:
    events: list[Gen]  # in arrival order
    people: int  # people named by at least one event
    anonymous_people: int  # of them, ones who browse anonymously first
    kinds: dict[str, int]  # events by the kind of their person
    companies: int  # company domains of employer contacts with events (their accounts)
    largest_company: int  # contacts of the company with the most


def make_dataset(
    seed: int,
    count: int,
    people: int,
    *,
    candidate_share: float = 0.35,
    anon_share: float = 0.2,
    everyone: bool = False,
) -> Dataset:
    """``count`` events over up to ``people`` people (each of them, with ``everyone``)."""
    rng = random.Random(seed)
    companies = make_companies(rng, max(50, people // 8))
    persons = [
        _person(
            rng,
            n,
            "candidate" if rng.random() < candidate_share else "employer",
            anon_share,
            companies,
        )
        for n in range(people)
    ]
    weights = [min(rng.paretovariate(1.3), 60.0) for _ in persons]
    owners = list(range(people)) if everyone else []
    owners += rng.choices(range(people), weights, k=count - len(owners))
    by_person: dict[int, list[Gen]] = {}
    for n, owner in enumerate(owners):
        at = round(NOW - rng.uniform(0, SPAN_SECONDS), 3)
        event = Gen(_uuid(rng), "", at, persons[owner].email, None)
        _shape(rng, persons[owner], event)
        if everyone and n < people:  # the person's own event: feeds their kind, with traits
            while persons[owner].kind == "employer" and _careers(event):
                _shape(rng, persons[owner], event)
            event.first, event.traits = True, dict(persons[owner].traits)
        by_person.setdefault(owner, []).append(event)
    anonymous_people = 0
    for owner, evs in by_person.items():
        person = persons[owner]
        evs.sort(key=lambda e: e.at)
        identified = person.anonymous_id is None
        anonymous_people += not identified
        for event in evs:
            if event.type in TRAIT_TYPES[person.kind]:
                event.traits = dict(person.traits)
            if identified:
                if person.anonymous_id and event.type == "web.page_view":
                    event.anonymous_id = person.anonymous_id  # the tracker sends both now
            elif event.traits:  # the first form: the anonymous visitor gives their e-mail
                event.anonymous_id = person.anonymous_id
                identified = True
            elif event.type == "web.page_view":
                event.email, event.anonymous_id = None, person.anonymous_id
    arrival = [event for evs in by_person.values() for event in evs]
    rng.shuffle(arrival)
    kinds: dict[str, int] = {}
    for owner in owners:
        kinds[persons[owner].kind] = kinds.get(persons[owner].kind, 0) + 1
    contacts: dict[str, int] = {}
    for owner in by_person:
        domain = persons[owner].email.rsplit("@", 1)[1]
        if persons[owner].kind == "employer" and domain.endswith(".example"):
            contacts[domain] = contacts.get(domain, 0) + 1
    return Dataset(
        arrival,
        len(by_person),
        anonymous_people,
        kinds,
        len(contacts),
        max(contacts.values(), default=0),
    )


def _batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ----------------------------------------------------------------------------- stores


def postgres_answers() -> bool:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@contextlib.contextmanager
def fresh_store_url(backend: str, tmp: Path, name: str) -> Iterator[str]:
    """A URL for an empty database: a new SQLite file, or a new PostgreSQL schema that is
    dropped afterwards."""
    if backend == "sqlite":
        path = tmp / f"{name}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = f"bench_{name}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _count(store: Store, table: sa.Table, *where: Any) -> int:
    with store.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        if where:
            query = query.where(*where)
        return int(conn.scalar(query) or 0)


def _quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted ``values``."""
    if not values:
        return math.nan
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


# ---------------------------------------------------------------- part 1: engine ingest


def engine_ingest(engine: Engine, batches: list[list[EventIn]]) -> dict[str, Any]:
    """Ingest the batches; wall time, batch times, and what the engine did. A long run
    prints its progress at each fifth."""
    times: list[float] = []
    accepted = duplicates = merges = mqls = 0
    fifth = len(batches) // 5 if len(batches) >= 50 else 0
    start = time.perf_counter()
    for n, batch in enumerate(batches, 1):
        if fifth and n % fifth == 0 and n < len(batches):
            print(
                f"    {accepted:,} events in {time.perf_counter() - start:.0f} s "
                f"({accepted / (time.perf_counter() - start):,.0f} events/s)",
                flush=True,
            )
        began = time.perf_counter()
        result = engine.ingest(batch, NOW)
        times.append(time.perf_counter() - began)
        accepted += result.accepted
        duplicates += result.duplicates
        merges += sum(isinstance(e, PeopleMerged) for e in result.domain_events)
        mqls += sum(type(e).__name__ == "LeadBecameMQL" for e in result.domain_events)
    seconds = time.perf_counter() - start
    times.sort()
    return {
        "seconds": seconds,
        "accepted": accepted,
        "duplicates": duplicates,
        "merges": merges,
        "new_mqls": mqls,
        "batch_p50": _quantile(times, 0.5),
        "batch_max": times[-1] if times else math.nan,
    }


def stored_rows(store: Store, order: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict]]:
    """The engine's ``events`` rows in arrival order, and its people (merged_into cleared:
    the baseline only needs them for the foreign key)."""
    with store.engine.connect() as conn:
        by_id = {row["id"]: dict(row) for row in conn.execute(sa.select(events)).mappings()}
        persons = [
            dict(row) | {"merged_into": None} for row in conn.execute(sa.select(people)).mappings()
        ]
    rows = [by_id[event_id] for event_id in order if event_id in by_id]
    for row in rows:
        for column in ("occurred_at", "received_at"):  # SQLite hands back naive UTC
            if row[column].tzinfo is None:
                row[column] = row[column].replace(tzinfo=UTC)
    return rows, persons


def _baseline_store(url: str, persons: list[dict[str, Any]]) -> Store:
    store = Store.open(url)
    with store.transaction() as conn:
        for chunk in _batches(persons, 5000):
            conn.execute(sa.insert(people), list(chunk))
    return store


def baseline_executemany(url: str, rows: list[dict[str, Any]], persons: list[dict]) -> float:
    """Seconds to insert ``rows`` with SQLAlchemy executemany, a transaction a batch."""
    store = _baseline_store(url, persons)
    try:
        statement = sa.insert(events)
        start = time.perf_counter()
        for batch in _batches(rows):
            with store.transaction() as conn:
                conn.execute(statement, list(batch))
        seconds = time.perf_counter() - start
        if _count(store, events) != len(rows):
            raise BenchError("the executemany baseline lost rows")
        return seconds
    finally:
        store.close()


def baseline_copy(url: str, rows: list[dict[str, Any]], persons: list[dict]) -> float:
    """Seconds to insert ``rows`` with psycopg ``COPY … FROM STDIN``, a transaction (and a
    COPY) a batch. JSON columns are serialised here, as SQLAlchemy does for executemany."""
    store = _baseline_store(url, persons)
    columns = [c.name for c in events.columns]
    json_columns = {c.name for c in events.columns if isinstance(c.type, sa.JSON)}
    statement = f"COPY events ({', '.join(columns)}) FROM STDIN"
    raw = store.engine.raw_connection()
    try:
        pg = raw.driver_connection
        assert pg is not None
        start = time.perf_counter()
        for batch in _batches(rows):
            with pg.cursor() as cursor, cursor.copy(statement) as copy:
                for row in batch:
                    copy.write_row(
                        [json.dumps(row[c]) if c in json_columns else row[c] for c in columns]
                    )
            pg.commit()
        seconds = time.perf_counter() - start
    finally:
        raw.close()
    try:
        if _count(store, events) != len(rows):
            raise BenchError("the COPY baseline lost rows")
    finally:
        store.close()
    return seconds


def part_ingest(
    args: argparse.Namespace, tmp: Path, backends: list[str], workspace: Workspace
) -> dict[str, Any]:
    people_count = max(1, args.events // 5)
    began = time.perf_counter()
    data = make_dataset(args.seed, args.events, people_count)
    batches = [[g.event() for g in batch] for batch in _batches(data.events)]
    order = [g.id for g in data.events]
    print(
        f"ingest: {len(data.events):,} events over {data.people:,} people "
        f"({data.anonymous_people:,} browse anonymously first; employer contacts at "
        f"{data.companies:,} companies, at most {data.largest_company:,} at one; events by "
        f"kind {', '.join(f'{k} {v:,}' for k, v in sorted(data.kinds.items()))}); "
        f"generated in {time.perf_counter() - began:.1f} s",
        flush=True,
    )
    out: dict[str, Any] = {
        "events": len(data.events),
        "people": data.people,
        "anonymous_people": data.anonymous_people,
        "events_by_kind": data.kinds,
        "companies": data.companies,
        "largest_company": data.largest_company,
        "batch": BATCH,
    }
    for backend in backends:
        with fresh_store_url(backend, tmp, "engine") as url:
            engine = workspace.engine(url, now=NOW)
            try:
                print(f"  {backend}: engine ingest …", flush=True)
                run = engine_ingest(engine, batches)
                if run["accepted"] != len(data.events):
                    raise BenchError(
                        f"{backend}: the engine stored {run['accepted']:,} of "
                        f"{len(data.events):,} events"
                    )
                run["leads"] = _count(engine.store, leads)
                run["people_rows"] = _count(engine.store, people)
                rows, persons = stored_rows(engine.store, order)
            finally:
                engine.store.close()
        print(
            f"  {backend}: engine {run['seconds']:.1f} s "
            f"({len(data.events) / run['seconds']:,.0f} events/s); {run['leads']:,} leads, "
            f"{run['merges']:,} merges, {run['new_mqls']:,} new MQLs",
            flush=True,
        )
        with fresh_store_url(backend, tmp, "executemany") as url:
            run["executemany_seconds"] = baseline_executemany(url, rows, persons)
        print(f"  {backend}: executemany {run['executemany_seconds']:.2f} s", flush=True)
        if backend == "postgres":
            with fresh_store_url(backend, tmp, "copy") as url:
                run["copy_seconds"] = baseline_copy(url, rows, persons)
            print(f"  {backend}: COPY {run['copy_seconds']:.2f} s", flush=True)
        out[backend] = run
    return out


# ----------------------------------------------------------------------- part 2: HTTP


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request(port: int, token: str, path: str, body: dict[str, object]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _raw_run(port: int, requests: list[bytes], concurrency: int) -> dict[str, Any]:
    """A minimal HTTP/1.1 keep-alive client: ``concurrency`` connections, each sending its
    next request when the last is answered (closed loop)."""
    connections = [
        await asyncio.open_connection("127.0.0.1", port)
        for _ in range(min(concurrency, len(requests)))
    ]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = 0
    queue = iter(range(len(requests)))

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        for index in queue:
            began = time.perf_counter()
            writer.write(requests[index])
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"transfer-encoding":
                    raise BenchError("a chunked answer; this client reads Content-Length only")
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                accepted += json.loads(body).get("accepted", 0)

    start = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in connections))
    seconds = time.perf_counter() - start
    for _, writer in connections:
        writer.close()
    return {"seconds": seconds, "latencies": latencies, "statuses": statuses, "accepted": accepted}


async def _httpx_run(
    port: int, token: str, path: str, bodies: list[bytes], concurrency: int
) -> dict[str, Any]:
    """The same closed loop with httpx2's AsyncClient (heavier on the client's CPU)."""
    import httpx2  # a dev dependency; only this option needs it

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = 0
    queue = iter(range(len(bodies)))
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
    ) as client:

        async def worker() -> None:
            nonlocal accepted
            for index in queue:
                began = time.perf_counter()
                answer = await client.post(path, content=bodies[index], headers=headers)
                latencies.append(time.perf_counter() - began)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code == 200:
                    accepted += answer.json().get("accepted", 0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(bodies)))))
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "latencies": latencies, "statuses": statuses, "accepted": accepted}


def loadgen(
    port: int,
    token: str,
    path: str,
    bodies: list[dict[str, object]],
    concurrency: int,
    client: str,
    cpu: int | None,
) -> dict[str, Any]:
    """One closed-loop run (in the load generator's own process)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    if client == "httpx":
        encoded = [json.dumps(b, separators=(",", ":")).encode() for b in bodies]
        began = time.process_time()
        result = asyncio.run(_httpx_run(port, token, path, encoded, concurrency))
    else:
        requests = [_request(port, token, path, body) for body in bodies]
        began = time.process_time()
        result = asyncio.run(_raw_run(port, requests, concurrency))
    return result | {"client_cpu_seconds": time.process_time() - began}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    latencies = sorted(run.pop("latencies"))
    count = len(latencies)
    return run | {
        "requests": count,
        "rate": count / run["seconds"] if run["seconds"] > 0 else math.inf,
        "p50": _quantile(latencies, 0.50),
        "p90": _quantile(latencies, 0.90),
        "p99": _quantile(latencies, 0.99),
        "max": latencies[-1] if latencies else math.nan,
    }


def _child_env() -> dict[str, str]:
    # The workspace's own settings must win: no LEADGRADE_* override of the database.
    return {k: v for k, v in os.environ.items() if not k.startswith("LEADGRADE_")}


def _wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"`leadgrade serve` exited with {server.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"`leadgrade serve` did not answer /healthz within 60 s; see {log}")


def part_http(args: argparse.Namespace, out: Path, workspace: Workspace) -> dict[str, Any]:
    data = make_dataset(args.seed + 1, args.warmup + args.requests, args.requests // 5 + 1)
    bodies = [g.body() for g in data.events]
    warm, measured = bodies[: args.warmup], bodies[args.warmup :]
    root = workspace.root
    store = workspace.open_store()
    try:
        with store.transaction() as conn:
            _, token = create_key(conn, "bench", ["ingest"], time.time())
    finally:
        store.close()

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not args.no_pin and len(cpus) >= 2
    server_cpu, client_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    port = free_port()
    leadgrade = Path(sys.executable).with_name("leadgrade")
    argv = [str(leadgrade), "serve", "--workspace", str(root), "--port", str(port)]
    log = out / "serve.log"
    print(
        f"http: `leadgrade serve` on SQLite, port {port}; "
        + (
            f"server pinned to cpu {server_cpu}, load generator to cpu {client_cpu}"
            if pin
            else "not pinned (server and load generator share the cores)"
        ),
        flush=True,
    )
    context = multiprocessing.get_context("spawn")
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            preexec_fn=(lambda: os.sched_setaffinity(0, {server_cpu})) if pin else None,
        )
        try:
            _wait_healthy(port, server, log)
            with context.Pool(1) as pool:

                def run(path: str, batch: list[dict[str, object]]) -> dict[str, Any]:
                    began = _cpu_seconds(server.pid)
                    result: dict[str, Any] = pool.apply(
                        loadgen,
                        (port, token, path, batch, args.concurrency, args.client, client_cpu),
                    )
                    return result | {"server_cpu_seconds": _cpu_seconds(server.pid) - began}

                # Warm-up (not measured): both paths, so imports, caches and the SQLite
                # file are warm; the events of the ingest warm-up are stored.
                run("/v1/events?dry_run=true", warm)
                warmed = run("/v1/events", warm)
                print(f"  warm-up: {len(warm):,} requests to each endpoint", flush=True)
                ceiling = _summary(run("/v1/events?dry_run=true", measured))
                print(
                    f"  parse-only: {ceiling['rate']:,.0f} req/s, "
                    f"p99 {ceiling['p99'] * 1000:.1f} ms",
                    flush=True,
                )
                ingest = _summary(run("/v1/events", measured))
                print(
                    f"  ingest: {ingest['rate']:,.0f} req/s, p99 {ingest['p99'] * 1000:.1f} ms",
                    flush=True,
                )
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    store = workspace.open_store()
    try:
        stored = _count(store, events)
    finally:
        store.close()
    expected = len(warm) + len(measured)
    for name, result in (("parse-only", ceiling), ("ingest", ingest)):
        if result["statuses"] != {200: len(measured)}:
            raise BenchError(f"{name}: answers other than 200: {result['statuses']}")
    if ingest["accepted"] + warmed["accepted"] != expected or stored != expected:
        raise BenchError(
            f"sent {expected:,} events, {ingest['accepted'] + warmed['accepted']:,} accepted, "
            f"{stored:,} stored"
        )
    return {
        "requests": len(measured),
        "warmup": len(warm),
        "concurrency": args.concurrency,
        "client": args.client,
        "pinned": {"server": server_cpu, "load_generator": client_cpu} if pin else None,
        "people": data.people,
        "stored": stored,
        "ingest": ingest,
        "parse_only": ceiling,
    }


# -------------------------------------------------------------------- part 3: rescore


def changed_employer_model(text: str) -> str:
    """The employer model with the pricing-page rule's points raised by 2."""
    pattern = re.compile(r"(- id: pricing-page\b.*?\n\s+points: )(\d+)", re.DOTALL)
    changed, count = pattern.subn(lambda m: f"{m[1]}{int(m[2]) + 2}", text, count=1)
    if count != 1:
        raise BenchError("the employer model has no pricing-page rule with points to change")
    return changed


def log_setup(engine: Engine, data: Dataset) -> dict[str, Any]:
    """Each lead's first event through the engine (so every person, identity and lead
    row is the engine's own), then the other events appended to the event log directly,
    as the engine stores them. The stale scores do not matter: a rescore rebuilds every
    lead from the log."""
    first = [g.event() for g in data.events if g.first]
    run = engine_ingest(engine, [list(b) for b in _batches(first)])
    with engine.store.engine.connect() as conn:
        owner = dict(
            conn.execute(
                sa.select(identities.c.value, identities.c.person_id).where(
                    identities.c.kind == "email"
                )
            ).all()
        )
    received = datetime.fromtimestamp(NOW, UTC)
    rows = []
    for g in data.events:
        if g.first:
            continue
        event = g.event()
        assert g.email is not None
        rows.append(
            {
                "id": g.id,
                "person_id": owner[g.email],
                "type": g.type,
                "occurred_at": datetime.fromtimestamp(g.at, UTC),
                "received_at": received,
                "audiences": [
                    a for a in engine.audiences.audiences_of(event) if a in engine.models
                ],
                "properties": g.properties,
                "channel": g.channel,
                "source": g.source,
                "campaign": g.campaign,
            }
        )
    start = time.perf_counter()
    with engine.store.transaction() as conn:
        for chunk in _batches(rows, 5000):
            conn.execute(sa.insert(events), list(chunk))
    return run | {"seconds": run["seconds"] + time.perf_counter() - start, "logged": len(rows)}


def part_rescore(
    args: argparse.Namespace, tmp: Path, backends: list[str], workspace: Workspace
) -> dict[str, Any]:
    count = args.leads * args.events_per_lead
    began = time.perf_counter()
    data = make_dataset(
        args.seed + 2, count, args.leads, candidate_share=0.0, anon_share=0.0, everyone=True
    )
    batches = list(_batches(data.events))
    print(
        f"rescore: {args.leads:,} employer leads with {count:,} events, at "
        f"{data.companies:,} companies, at most {data.largest_company:,} at one "
        f"(generated in {time.perf_counter() - began:.1f} s)",
        flush=True,
    )
    lists = workspace.lists()
    text = changed_employer_model(
        (workspace.root / "models" / "employer.yaml").read_text(encoding="utf-8")
    )
    out: dict[str, Any] = {
        "leads": args.leads,
        "events": count,
        "setup": args.rescore_setup,
        "companies": data.companies,
        "largest_company": data.largest_company,
    }
    for backend in backends:
        with fresh_store_url(backend, tmp, "rescore") as url:
            engine = workspace.engine(url, now=NOW)
            try:
                print(f"  {backend}: setting up ({args.rescore_setup}; not timed) …", flush=True)
                if args.rescore_setup == "engine":
                    setup = engine_ingest(engine, [[g.event() for g in b] for b in batches])
                else:
                    setup = log_setup(engine, data)
                employer_leads = _count(engine.store, leads, leads.c.audience == "employer")
                if employer_leads != args.leads:
                    raise BenchError(
                        f"{backend}: {employer_leads:,} employer leads, not {args.leads:,}"
                    )
                with engine.store.transaction() as conn:
                    version, model = add_version(conn, text, "bench: pricing-page +2", lists, NOW)
                start = time.perf_counter()
                _, rescored = activate(engine, version.id, lists, NOW + 60)
                seconds = time.perf_counter() - start
                current = _count(engine.store, leads, leads.c.model_digest == model.digest)
            finally:
                engine.store.close()
        if rescored != args.leads or current != args.leads:
            raise BenchError(
                f"{backend}: {rescored:,} leads rescored, {current:,} on the new model"
            )
        print(
            f"  {backend}: setup {setup['seconds']:.1f} s; rescore {seconds:.2f} s "
            f"({rescored / seconds:,.0f} leads/s)",
            flush=True,
        )
        out[backend] = {
            "seconds": seconds,
            "rescored": rescored,
            "setup_seconds": setup["seconds"],
            "setup_merges": setup["merges"],
        }
    return out


# ----------------------------------------------------------------------------- report


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def _git(*argv: str) -> str:
    try:
        return subprocess.run(
            ["git", *argv], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine_info(tmp: Path, postgres: bool) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kib * 1024 / 1e9:.0f} GB"
    pg_version = "-"
    if postgres:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            pg_version = str(conn.scalar(sa.text("SHOW server_version")))
        engine.dispose()
    dirty = _git("status", "--porcelain", "--", "src")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version,
        "packages": {
            p: _version(p) for p in ("SQLAlchemy", "psycopg", "fastapi", "uvicorn", "pydantic")
        },
        "temp": str(tmp),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "commit": _git("rev-parse", "--short", "HEAD"),
        "src_modified": bool(dirty) and dirty != "?",
    }


@dataclass
class Row:
    figure: str
    value: str
    baseline: str
    target: str
    verdict: str  # PASS, MISS or ""


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _busy(run: dict[str, Any], side: str) -> str:
    return f"{run[f'{side}_cpu_seconds'] / run['seconds']:.0%}"


def report_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    ingest = results.get("ingest")
    if ingest:
        n = ingest["events"]
        for backend in ("sqlite", "postgres"):
            run = ingest.get(backend)
            if not run:
                continue
            rate = n / run["seconds"]
            many = n / run["executemany_seconds"]
            name = "SQLite" if backend == "sqlite" else "PostgreSQL"
            rows.append(
                Row(
                    f"{name}: engine ingest",
                    f"{rate:,.0f} events/s ({run['seconds']:.1f} s)",
                    "",
                    f"≥ {TARGET_INGEST_RATE:,} events/s",
                    _verdict(rate >= TARGET_INGEST_RATE),
                )
            )
            baselines = [("executemany", many)]
            if "copy_seconds" in run:
                baselines.append(("COPY", n / run["copy_seconds"]))
            ratio_of = "COPY" if backend == "postgres" else "executemany"
            for label, base in baselines:
                is_target = label == ratio_of
                rows.append(
                    Row(
                        f"{name}: engine / {label}",
                        f"{rate / base:.1%}",
                        f"{label} {base:,.0f} rows/s",
                        f"≥ {TARGET_INGEST_SHARE:.0%} of {label}" if is_target else "(info)",
                        _verdict(rate / base >= TARGET_INGEST_SHARE) if is_target else "",
                    )
                )
    http = results.get("http")
    if http:
        ing, top = http["ingest"], http["parse_only"]
        rows.append(
            Row(
                "HTTP ingest, 1 event/request",
                f"{ing['rate']:,.0f} events/s",
                f"parse-only {top['rate']:,.0f} req/s",
                f"≥ {TARGET_HTTP_RATE:,} events/s",
                _verdict(ing["rate"] >= TARGET_HTTP_RATE),
            )
        )
        rows.append(
            Row(
                "HTTP ingest p50 / p90",
                f"{_ms(ing['p50'])} / {_ms(ing['p90'])}",
                f"{_ms(top['p50'])} / {_ms(top['p90'])}",
                "",
                "",
            )
        )
        rows.append(
            Row(
                "HTTP ingest p99",
                _ms(ing["p99"]),
                f"parse-only {_ms(top['p99'])}",
                f"< {TARGET_HTTP_P99 * 1000:.0f} ms",
                _verdict(ing["p99"] < TARGET_HTTP_P99),
            )
        )
        rows.append(
            Row(
                "HTTP ingest: CPU busy, server / client",
                f"{_busy(ing, 'server')} / {_busy(ing, 'client')} of a core",
                f"{_busy(top, 'server')} / {_busy(top, 'client')}",
                "(info)",
                "",
            )
        )
        rows.append(
            Row(
                "HTTP ingest / parse-only",
                f"{ing['rate'] / top['rate']:.1%} of the ceiling's req/s",
                "",
                "(info)",
                "",
            )
        )
    rescore = results.get("rescore")
    if rescore:
        for backend in ("sqlite", "postgres"):
            run = rescore.get(backend)
            if not run:
                continue
            name = "SQLite" if backend == "sqlite" else "PostgreSQL"
            limit = TARGET_RESCORE_SECONDS * run["rescored"] / 100_000  # pro rata
            rows.append(
                Row(
                    f"{name}: rescore {run['rescored']:,} leads",
                    f"{run['seconds']:.2f} s ({run['rescored'] / run['seconds']:,.0f} leads/s)",
                    "",
                    f"< {TARGET_RESCORE_SECONDS:g} s for 100,000"
                    + ("" if run["rescored"] == 100_000 else f" ({limit:.2f} s here)"),
                    _verdict(run["seconds"] < limit),
                )
            )
    return rows


def print_report(results: dict[str, Any], quick: bool) -> None:
    info = results["machine"]
    print()
    print(
        f"leadgrade ingest benchmark, {info['date']}: {info['cores']} cores ({info['cpu']}), "
        f"{info['memory']}, Python {info['python']}, SQLite {info['sqlite']}, "
        f"PostgreSQL {info['postgresql']}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in info['load_average'])}"
    )
    print(
        f"  commit {info['commit']}"
        + (" with src/ modified (work in progress)" if info["src_modified"] else "")
        + f"; SQLAlchemy {info['packages']['SQLAlchemy']}, psycopg {info['packages']['psycopg']}, "
        f"uvicorn {info['packages']['uvicorn']}; temporary files in {info['temp']}"
    )
    ingest = results.get("ingest")
    if ingest:
        print(
            f"  ingest: {ingest['events']:,} events, {ingest['people']:,} people, batches of "
            f"{ingest['batch']:,}, one transaction each (baselines too); baseline rows are "
            "the engine's own events rows"
        )
    http = results.get("http")
    if http:
        pinned = http["pinned"]
        print(
            f"  http: {http['requests']:,} requests (after {http['warmup']:,} warm-up) at "
            f"{http['concurrency']} connections, {http['client']} client in its own process"
            + (
                f", server on cpu {pinned['server']}, generator on cpu {pinned['load_generator']}"
                if pinned
                else ", not pinned"
            )
        )
    rescore = results.get("rescore")
    if rescore:
        print(
            f"  rescore: {rescore['leads']:,} employer leads, {rescore['events']:,} events "
            f"(store filled by '{rescore['setup']}'), a changed employer version activated "
            "(add_version + activate)"
        )
    rows = report_rows(results)
    headers = Row("figure", "value", "baseline (same run)", "target", "")
    widths = [
        max(len(getattr(r, f)) for r in [headers, *rows])
        for f in ("figure", "value", "baseline", "target", "verdict")
    ]
    print()
    for row in [headers, *rows]:
        cells = (row.figure, row.value, row.baseline, row.target, row.verdict)
        print("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    if quick:
        print("\n  --quick: sizes are about 1/20 of the issue's; the verdicts are indicative.")


# ------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the engine's ingestion (in-process and over HTTP) and a rescore "
        "after a model version is activated, each beside a baseline from the same run."
    )
    parser.add_argument(
        "--parts", default="ingest,http,rescore", help="which parts (default ingest,http,rescore)"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="stores for ingest and rescore"
    )
    parser.add_argument("--quick", action="store_true", help="about 1/20 of the sizes")
    parser.add_argument("--events", type=int, help="events for ingest (200000; quick 10000)")
    parser.add_argument("--requests", type=int, help="measured HTTP requests (20000; quick 1000)")
    parser.add_argument("--warmup", type=int, help="warm-up requests (2000; quick 200)")
    parser.add_argument("--leads", type=int, help="leads to rescore (100000; quick 5000)")
    parser.add_argument("--events-per-lead", type=int, default=4, help="for rescore (4)")
    parser.add_argument(
        "--rescore-setup",
        choices=("log", "engine"),
        default="log",
        help="how the rescore store is filled: each lead's first event through the engine and "
        "the rest written to the event log (log, default), or every event through the engine",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="HTTP connections (50)")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: a minimal asyncio HTTP/1.1 client (raw) or httpx2",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and generator to cores"
    )
    parser.add_argument("--seed", type=int, default=sample.SEED, help="random seed")
    parser.add_argument("--tmp", type=Path, help="folder for the stores (default: system temp)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output folder")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for name, default in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(args.parts) - {"ingest", "http", "rescore"}:
        parser.error("--parts takes ingest, http, rescore")
    if set(args.backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite, postgres")
    if min(args.events, args.requests, args.leads, args.concurrency, args.events_per_lead) < 1:
        parser.error("sizes must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    backends = list(args.backends)
    if "postgres" in backends and not postgres_answers():
        print(f"PostgreSQL does not answer at {POSTGRES_URL}: skipping it", flush=True)
        backends.remove("postgres")
    tmp = Path(tempfile.mkdtemp(prefix="leadgrade-ingest-bench-", dir=args.tmp))
    results: dict[str, Any] = {
        "machine": machine_info(tmp, "postgres" in backends),
        "quick": args.quick,
        "seed": args.seed,
    }
    try:
        # The workspaces are copied from the template now, at start-up: src/ may change
        # while a long run goes on, and the models must match the code imported.
        spaces = {p: Workspace.create(tmp / f"{p}-workspace") for p in args.parts}
        if "ingest" in args.parts and backends:
            results["ingest"] = part_ingest(args, tmp, backends, spaces["ingest"])
        if "http" in args.parts:
            results["http"] = part_http(args, out, spaces["http"])
        if "rescore" in args.parts and backends:
            results["rescore"] = part_rescore(args, tmp, backends, spaces["rescore"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_report(results, args.quick)
    results["rows"] = [r.__dict__ for r in report_rows(results)]
    (out / "ingest_bench.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, ModelError, WorkspaceError) as exc:
        # ModelError: most likely the template's models and the code disagree (src/ being
        # edited while the benchmark imports it).
        print(f"ingest_bench: {exc}", file=sys.stderr)
        sys.exit(2)
