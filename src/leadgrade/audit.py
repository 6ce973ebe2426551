"""The audit log (DESIGN §9): who did what, when — model versions, manual stage moves and
feedback, assignments, API keys, demographics loaded, exports, erasures, retention runs.

The log is **append-only**. :func:`record` appends a row in the caller's transaction, so
a change and its audit row commit together or not at all; nothing here updates or
deletes a row, and nothing should (docs/compliance.md suggests a ``REVOKE`` on
PostgreSQL). Details say what changed, never personal data: ids, stages, reasons, scopes
and field names, not e-mail addresses, names or demographic values.

Actors are ``api-key:<name>`` for API calls (:func:`api_actor`), ``cli`` (or the
``--actor`` given) for the command line, and ``system`` for what leadgrade does by itself
(a workspace starting its model files as the active versions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from leadgrade.store.schema import audit_log
from leadgrade.times import epoch, utc

__all__ = [
    "ACTIONS",
    "AuditEntry",
    "api_actor",
    "entries",
    "record",
]

#: Every action the log knows, with what its subject is. :func:`record` refuses others, so
#: that the list (and docs/compliance.md) stays the whole vocabulary.
ACTIONS: dict[str, str] = {
    "model.created": "a model version was stored as a draft (subject: the version id)",
    "model.activated": "a model version became its audience's active one (subject: version)",
    "model.shadow_started": "a model version began scoring in shadow (subject: version)",
    "model.shadow_stopped": "a model version was taken out of shadow (subject: version)",
    "lead.stage_moved": "a lead was moved to a stage by hand, or by the CRM/ATS (subject: lead)",
    "lead.feedback": "sales accepted, qualified, rejected or disqualified a lead (subject: lead)",
    "lead.assigned": "a lead was given to a rep by hand, or routed afresh (subject: lead)",
    "key.created": "an API key was created (subject: the key id)",
    "key.revoked": "an API key was revoked (subject: the key id)",
    "demographics.recorded": "a person's self-identified demographics were stored "
    "(subject: person; details name the fields, never the values)",
    "demographics.imported": "a file of self-identified demographics was loaded (details: "
    "the file name and the number of people)",
    "person.exported": "everything held about a person was exported (subject: person)",
    "person.erased": "a person was erased, leaving a tombstone (subject: the person id)",
    "retention.run": "the retention job ran (details: how many were erased and blocked)",
}

_ACTOR_MAX = 200  # the widths of audit_log.actor and audit_log.subject
_SUBJECT_MAX = 200
_ACTION = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def api_actor(key: _Named) -> str:
    """The actor of an API call: the name of the key that made it."""
    return f"api-key:{key.name}"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]

    def public(self) -> dict[str, Any]:
        """The entry as the API and ``leadgrade audit`` show it (the time in ISO 8601)."""
        return {
            "id": self.id,
            "at": utc(self.at).isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
        }


def record(
    conn: sa.Connection,
    actor: str,
    action: str,
    subject: str | None,
    details: Mapping[str, Any] | None,
    at: float,
) -> int:
    """Append an entry in the caller's transaction and return its id. ``action`` is one
    of :data:`ACTIONS`; ``details`` is JSON (ids, stages, reasons — no personal data).
    Raises ValueError for an unknown action or an empty actor."""
    if action not in ACTIONS:
        shape = "" if _ACTION.match(action) else " (actions look like 'model.activated')"
        raise ValueError(f"unknown audit action {action!r}{shape}; add it to audit.ACTIONS")
    if not actor.strip():
        raise ValueError("an audit entry needs an actor")
    if subject is not None and len(subject) > _SUBJECT_MAX:
        raise ValueError(f"an audit subject is at most {_SUBJECT_MAX} characters")
    result = conn.execute(
        sa.insert(audit_log).values(
            at=utc(at),
            actor=actor[:_ACTOR_MAX],
            action=action,
            subject=subject,
            details=dict(details or {}),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def entries(
    conn: sa.Connection,
    *,
    action: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    since: float | None = None,
    until: float | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Entries oldest first (by id, the order they were written), filtered: ``action``
    exactly, or every action under a prefix ending in a dot (``model.``); ``subject`` and
    ``actor`` exactly; ``since`` ≤ at < ``until``; ids after ``after`` (keyset paging)."""
    query = sa.select(audit_log).order_by(audit_log.c.id)
    if action is not None:
        if action.endswith("."):
            query = query.where(audit_log.c.action.startswith(action, autoescape=True))
        else:
            query = query.where(audit_log.c.action == action)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if since is not None:
        query = query.where(audit_log.c.at >= utc(since))
    if until is not None:
        query = query.where(audit_log.c.at < utc(until))
    if after is not None:
        query = query.where(audit_log.c.id > after)
    if limit is not None:
        query = query.limit(limit)
    return [
        AuditEntry(row.id, epoch(row.at), row.actor, row.action, row.subject, row.details or {})
        for row in conn.execute(query)
    ]
