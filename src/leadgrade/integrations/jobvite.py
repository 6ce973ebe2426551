"""Jobvite, polled (docs/integrations.md). Jobvite sends no webhooks for this, so the
poller reads every requisition and candidate (``GET /api/v2/job`` and
``/api/v2/candidate``, paged with ``start`` and ``count``), compares each with the last
version it saw (``integration_snapshots``), and makes the events the differences mean:

- a new application: ``job.apply`` (the candidate applied), and the stage its workflow
  state maps to;
- a workflow state changed: ``ats.stage_change`` from the old state to the new one, and
  the stage the new one maps to; a hired state (``hired_states``) places the candidate
  (``won``, re-engagement scheduled);
- other changes to the candidate: ``ats.candidate_updated`` with their attributes.

Event ids are made from the record and its content, so a poll that dies halfway and runs
again stores nothing twice. Snapshots keep Jobvite's ids, the workflow state and a digest
— no names, no e-mails.

A refused call can come back as **HTTP 200** with ``{"status": {"code": 401, …}}`` in
the body: that is an error (:class:`JobviteError`), never an empty page.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import sqlalchemy as sa

from leadgrade.core.attributes import attribute_name
from leadgrade.engine import Engine, EventIn, PersonRef
from leadgrade.integrations import state
from leadgrade.integrations.apply import Applier, Change, Outcome, StageMove
from leadgrade.integrations.strip import protected, strip
from leadgrade.integrations.values import email, ident, moment, text
from leadgrade.settings import HoldRule, JobviteSection
from leadgrade.store.schema import integration_snapshots
from leadgrade.times import utc

logger = logging.getLogger(__name__)

SOURCE = "jobvite"
CANDIDATE = "jobvite"  # the identity kind of candidate eIds
ID_PREFIX = "jobvite:"
RESOURCES = {"candidate": "candidates", "job": "requisitions"}


class JobviteError(RuntimeError):
    """Jobvite refused or failed a call — including an HTTP 200 whose body says
    ``{"status": {"code": 401}}``; the message says which and why."""


class JobviteClient:
    """Jobvite's v2 API with the ``x-jvi-api`` and ``x-jvi-sc`` headers (a secret never
    goes in a URL)."""

    def __init__(
        self, settings: JobviteSection, transport: httpx.BaseTransport | None = None
    ) -> None:
        missing = [name for name in ("api_key", "secret") if not getattr(settings, name)]
        if missing:
            raise JobviteError(
                "Jobvite is not configured: set [integrations.jobvite] "
                + " and ".join(missing)
                + " (or LEADGRADE_JOBVITE_<KEY>)"
            )
        headers = {
            "x-jvi-api": str(settings.api_key),
            "x-jvi-sc": str(settings.secret),
            "Accept": "application/json",
        }
        if settings.company_id:
            headers["X-Company-Id"] = settings.company_id
        self.settings = settings
        self.http = httpx.Client(transport=transport, timeout=settings.timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def page(self, resource: str, start: int, count: int) -> tuple[list[dict[str, Any]], int]:
        """One page of ``resource`` (``candidate`` or ``job``): its records and the total."""
        url = f"{self.settings.base_url.rstrip('/')}/{resource}"
        answer = self.http.get(url, params={"start": start, "count": count})
        try:
            data = answer.json()
        except ValueError:
            data = None
        found = data.get("status") if isinstance(data, dict) else None
        status: dict[str, Any] = found if isinstance(found, dict) else {}
        code = status.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and code >= 400:
            raise JobviteError(_refusal(resource, code, status))
        if answer.status_code >= 400:
            raise JobviteError(
                f"Jobvite failed GET {resource}: HTTP {answer.status_code}"
                + (f" ({_messages(status)})" if status else "")
            )
        key = RESOURCES[resource]
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise JobviteError(f"Jobvite's answer to GET {resource} has no {key!r} list")
        total = data.get("total")
        records = [r for r in data[key] if isinstance(r, dict)]
        return records, total if isinstance(total, int) else len(records)

    def all(self, resource: str) -> Iterator[dict[str, Any]]:
        """Every record of ``resource``, page by page (``start`` counts from 1)."""
        start, size = 1, self.settings.page_size
        while True:
            records, total = self.page(resource, start, size)
            yield from records
            start += len(records)
            if not records or start > total:
                return


def _messages(status: Mapping[str, Any]) -> str:
    found = status.get("messages")
    if isinstance(found, list):
        return "; ".join(str(m) for m in found)[:300]
    return str(found or "")[:300]


def _refusal(resource: str, code: int, status: Mapping[str, Any]) -> str:
    why = _messages(status)
    hint = (
        ": check [integrations.jobvite] api_key and secret (LEADGRADE_JOBVITE_API_KEY, "
        "LEADGRADE_JOBVITE_SECRET)"
        if code in (401, 403)
        else ""
    )
    return f"Jobvite refused GET {resource} with status {code} in its body ({why}){hint}"


# ---------------------------------------------------------------------- the mapping


def candidate_record(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A candidate record with its protected fields dropped — top level (``workStatus``,
    for candidates ``postalCode``), its application's inline EEO answers (``gender``,
    ``race``, ``veteranStatus``, ``disability``) and custom fields whose code or question
    is protected (``year_of_graduation``) — and the names dropped."""
    kept, dropped = strip(data, SOURCE, candidates=True)
    application = kept.get("application")
    if isinstance(application, dict):
        inner, more = strip(application, SOURCE, candidates=True, where="application.")
        dropped += more
        custom = []
        for entry in inner.get("customField") or []:
            if not isinstance(entry, dict):
                continue
            code, question = str(entry.get("fieldCode") or ""), str(entry.get("key") or "")
            if protected(code, SOURCE, candidates=True) or (
                question and protected(question, SOURCE, candidates=True)
            ):
                dropped.append(f"application.customField.{code or question}")
                logger.info("dropped the protected field %r from %s", code or question, SOURCE)
                continue
            custom.append(entry)
        inner["customField"] = custom
        kept["application"] = inner
    return kept, dropped


def candidate_traits(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, attribute in (
        ("firstName", "first_name"),
        ("lastName", "last_name"),
        ("title", "job_title"),
        ("companyName", "company"),
        ("city", "city"),
        ("state", "state"),
        ("country", "country"),
    ):
        value = text(data.get(key))
        if value:
            out[attribute] = value
    found = email(data.get("email"))
    if found:
        out["email"] = found
    phone = text(data.get("mobile")) or text(data.get("homePhone")) or text(data.get("workPhone"))
    if phone:
        out["phone"] = phone
    application = data.get("application")
    for entry in (
        (application or {}).get("customField") or [] if isinstance(application, dict) else []
    ):
        name = attribute_name(str(entry.get("fieldCode") or entry.get("key") or ""))
        value = text(entry.get("value"), 500)
        if name and value and name not in out:
            out[name] = value
    return out


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    digest: str
    state: str | None


def diff(
    record: Mapping[str, Any],
    before: Snapshot | None,
    settings: JobviteSection,
    received: float,
    categories: Mapping[str, str] | None = None,
) -> tuple[Change, Snapshot | None, str | None]:
    """What changed in one candidate record since ``before``: the change, the snapshot to
    keep, and what happened (``created``, ``state``, ``hired``, ``updated`` or None)."""
    kept, dropped = candidate_record(record)
    candidate = ident(kept.get("eId"))
    application = kept.get("application") if isinstance(kept.get("application"), dict) else {}
    assert isinstance(application, dict)
    if candidate is None:
        return Change(notes=["a Jobvite candidate without its eId"]), None, None
    key = ident(application.get("eId")) or candidate
    now_state = text(application.get("workflowState"))
    job = application.get("job") if isinstance(application.get("job"), dict) else {}
    assert isinstance(job, dict)
    after = Snapshot(digest(kept), now_state)
    if before is not None and before.digest == after.digest:
        return Change(), None, None
    traits = candidate_traits(kept)
    category = (categories or {}).get(ident(job.get("eId")) or "")
    if category and "job_category" not in traits:
        traits["job_category"] = category
    person = PersonRef(
        email=traits.get("email") if isinstance(traits.get("email"), str) else None,
        system=CANDIDATE,
        external_id=candidate,
    )
    occurred = moment(application.get("lastUpdatedDate")) or received
    properties: dict[str, Any] = {
        k: v
        for k, v in {
            "application_id": ident(application.get("eId")),
            "state": now_state,
            "job_id": ident(job.get("eId")),
            "requisition_id": text(job.get("requisitionId")),
            "job": text(job.get("title")),
        }.items()
        if v is not None
    }
    base = f"{ID_PREFIX}{key}:"
    change = Change(stripped=dropped)
    hired = bool(now_state) and any(
        (now_state or "").casefold() == s.casefold() for s in settings.hired_states
    )
    if before is None:
        what = "created"
        kind = "job.apply"
        when = moment(application.get("sentDate")) or occurred
    elif before.state != now_state:
        what = "hired" if hired else "state"
        kind = "ats.stage_change"
        when = occurred
        properties["from_state"] = before.state
    else:
        what, kind, when = "updated", "ats.candidate_updated", occurred
    event_id = base + f"{what}:{after.digest[:16]}"
    change.events.append(
        EventIn(
            event_id,
            kind,
            when,
            person,
            audience=settings.audience,
            properties=properties,
            traits=traits,
            source=text(application.get("source"), 200),
        )
    )
    if what in ("created", "state", "hired") and now_state:
        for_job = f" for {properties['job']}" if properties.get("job") else ""
        if hired:
            change.events.append(
                EventIn(
                    base + f"placed:{after.digest[:16]}",
                    "ats.placement_start",
                    occurred,
                    person,
                    audience=settings.audience,
                    properties=properties,
                )
            )
            change.moves.append(
                StageMove(
                    person,
                    settings.audience,
                    "won",
                    event_id,
                    f"Jobvite: {now_state}{for_job}",
                    placement_start=moment(application.get("startDate")) or occurred,
                    forward_only=False,
                )
            )
        else:
            target = next(
                (
                    stage
                    for name, stage in settings.workflow_states.items()
                    if name.casefold() == now_state.casefold()
                ),
                None,
            )
            if target is not None:
                change.moves.append(
                    StageMove(
                        person,
                        settings.audience,
                        target,
                        event_id,
                        f"Jobvite: workflow state {now_state!r}{for_job}",
                    )
                )
    return change, after, what


# ----------------------------------------------------------------------- the poller


@dataclass
class JobvitePolled:
    """What one pass did."""

    candidates: int = 0
    requisitions: int = 0
    found: dict[str, int] = field(default_factory=dict)  # created, state, hired, updated
    requisition_changes: dict[str, int] = field(default_factory=dict)
    outcome: Outcome = field(default_factory=Outcome)
    skipped: bool = False


class JobvitePoller:
    """One pass over Jobvite's requisitions and candidates, diffed against the
    snapshots (see the module)."""

    def __init__(
        self,
        engine: Engine,
        settings: JobviteSection,
        *,
        holds: Sequence[HoldRule] = (),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.client = JobviteClient(settings, transport)
        self.applier = Applier(engine, SOURCE, holds=holds)

    def close(self) -> None:
        self.client.close()

    def poll(self, now: float) -> JobvitePolled:
        polled = JobvitePolled()
        with state.exclusive(self.engine.store, SOURCE) as mine:
            if not mine:
                polled.skipped = True
                return polled
            categories = self._requisitions(now, polled)
            seen = self._snapshots("candidate")
            for record in self.client.all("candidate"):
                polled.candidates += 1
                key = ident((record.get("application") or {}).get("eId")) or ident(
                    record.get("eId")
                )
                change, after, what = diff(
                    record, seen.get(key or ""), self.settings, now, categories
                )
                if what is None:
                    polled.outcome.notes += change.notes
                    continue
                polled.outcome.add(self.applier.apply([change], now))
                polled.found[what] = polled.found.get(what, 0) + 1
                if after is not None and key:
                    self._keep("candidate", key, after, now)
            state.save(
                self.engine.store,
                SOURCE,
                {
                    "last_poll": utc(now).isoformat(),
                    "candidates": polled.candidates,
                    "requisitions": polled.requisitions,
                },
                now,
            )
        return polled

    def _requisitions(self, now: float, polled: JobvitePolled) -> dict[str, str]:
        """Snapshot the requisitions (created / state changed are counted); returns each
        one's category, the candidates' ``job_category``."""
        seen = self._snapshots("requisition")
        categories: dict[str, str] = {}
        for record in self.client.all("job"):
            polled.requisitions += 1
            key = ident(record.get("eId"))
            if key is None:
                continue
            category = text(record.get("category")) or text(record.get("department"))
            if category:
                categories[key] = category
            job_state = text(record.get("jobState"))
            after = Snapshot(digest(record), job_state)
            before = seen.get(key)
            if before is not None and before.digest == after.digest:
                continue
            what = (
                "created" if before is None else "state" if before.state != job_state else "updated"
            )
            polled.requisition_changes[what] = polled.requisition_changes.get(what, 0) + 1
            self._keep("requisition", key, after, now)
        return categories

    def _snapshots(self, entity: str) -> dict[str, Snapshot]:
        with self.engine.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    integration_snapshots.c.entity_id,
                    integration_snapshots.c.digest,
                    integration_snapshots.c.data,
                ).where(
                    integration_snapshots.c.source == SOURCE,
                    integration_snapshots.c.entity == entity,
                )
            )
            return {
                row.entity_id: Snapshot(row.digest, (row.data or {}).get("state")) for row in rows
            }

    def _keep(self, entity: str, key: str, snapshot: Snapshot, now: float) -> None:
        where = (
            integration_snapshots.c.source == SOURCE,
            integration_snapshots.c.entity == entity,
            integration_snapshots.c.entity_id == key,
        )
        values = {"digest": snapshot.digest, "data": {"state": snapshot.state}, "seen_at": utc(now)}
        with self.engine.store.transaction() as conn:
            if conn.execute(
                sa.update(integration_snapshots).where(*where).values(**values)
            ).rowcount:
                return
            conn.execute(
                sa.insert(integration_snapshots).values(
                    source=SOURCE, entity=entity, entity_id=key, **values
                )
            )
