"""Model versions: immutable YAML text with a content hash; one active version per
audience; activating one rescores that audience's leads from their event history."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from leadgrade import audit
from leadgrade.core import Model, parse_model
from leadgrade.engine import Engine
from leadgrade.store.schema import model_versions
from leadgrade.times import epoch

STATUSES = ("draft", "active", "shadow", "retired")


@dataclass(frozen=True)
class ModelVersion:
    id: str
    audience: str
    digest: str
    status: str
    created_at: float
    activated_at: float | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "audience": self.audience,
            "digest": self.digest,
            "status": self.status,
            "created_at": self.created_at,
            "activated_at": self.activated_at,
        }


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else epoch(moment)


def _version(row: Any) -> ModelVersion:
    created = _seconds(row.created_at)
    assert created is not None
    return ModelVersion(
        row.id, row.audience, row.digest, row.status, created, _seconds(row.activated_at)
    )


def add_version(
    conn: sa.Connection,
    text: str,
    source: str,
    lists: Mapping[str, tuple[str, ...]],
    now: float,
    *,
    actor: str = "system",
) -> tuple[ModelVersion, Model]:
    """Store ``text`` as a draft version of its audience (the same text twice is one
    version); a new version is written to the audit log as ``actor``'s. Raises
    :class:`leadgrade.core.ModelError` when the model does not load."""
    model = parse_model(text, source, lists)
    row = conn.execute(
        sa.select(model_versions).where(
            model_versions.c.audience == model.audience, model_versions.c.digest == model.digest
        )
    ).one_or_none()
    if row is not None:
        return _version(row), model
    version_id = str(uuid.uuid4())
    conn.execute(
        sa.insert(model_versions).values(
            id=version_id,
            audience=model.audience,
            digest=model.digest,
            text=text,
            status="draft",
            created_at=datetime.fromtimestamp(now, UTC),
        )
    )
    audit.record(
        conn,
        actor,
        "model.created",
        version_id,
        {"audience": model.audience, "digest": model.digest, "source": source},
        now,
    )
    row = conn.execute(sa.select(model_versions).where(model_versions.c.id == version_id)).one()
    return _version(row), model


def list_versions(conn: sa.Connection, audience: str | None = None) -> list[ModelVersion]:
    query = sa.select(model_versions).order_by(
        model_versions.c.audience, model_versions.c.created_at
    )
    if audience is not None:
        query = query.where(model_versions.c.audience == audience)
    return [_version(row) for row in conn.execute(query)]


def version_text(conn: sa.Connection, version_id: str) -> tuple[ModelVersion, str] | None:
    row = conn.execute(
        sa.select(model_versions).where(model_versions.c.id == version_id)
    ).one_or_none()
    return None if row is None else (_version(row), row.text)


def active_models(conn: sa.Connection, lists: Mapping[str, tuple[str, ...]]) -> dict[str, Model]:
    """The active model of each audience, parsed from its stored text."""
    rows = conn.execute(sa.select(model_versions).where(model_versions.c.status == "active"))
    return {row.audience: parse_model(row.text, f"version {row.id}", lists) for row in rows}


def shadow_models(
    conn: sa.Connection, lists: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, Model]]:
    """The version in shadow of each audience that has one: (version id, model)."""
    rows = conn.execute(sa.select(model_versions).where(model_versions.c.status == "shadow"))
    return {
        row.audience: (row.id, parse_model(row.text, f"version {row.id}", lists)) for row in rows
    }


def start_shadow(
    engine: Engine,
    version_id: str,
    lists: Mapping[str, tuple[str, ...]],
    now: float,
    progress: Progress | None = None,
    *,
    actor: str = "system",
) -> tuple[ModelVersion, int]:
    """Run a stored version in shadow beside its audience's active version: it scores
    every lead (apart, no stage moves) from now on. The audience's previous shadow version,
    if any, goes back to draft. Audited as ``actor``'s. Raises KeyError for an unknown
    version, ValueError for the active one."""
    with engine.store.transaction() as conn:
        found = version_text(conn, version_id)
        if found is None:
            raise KeyError(version_id)
        version, text = found
        if version.status == "active":
            raise ValueError("this version is the active one; shadow a draft beside it")
        model = parse_model(text, f"version {version.id}", lists)
        replaced = conn.scalars(
            sa.select(model_versions.c.id).where(
                model_versions.c.audience == version.audience,
                model_versions.c.status == "shadow",
                model_versions.c.id != version.id,
            )
        ).all()
        conn.execute(
            sa.update(model_versions)
            .where(
                model_versions.c.audience == version.audience,
                model_versions.c.status == "shadow",
            )
            .values(status="draft")
        )
        conn.execute(
            sa.update(model_versions)
            .where(model_versions.c.id == version.id)
            .values(status="shadow")
        )
        audit.record(
            conn,
            actor,
            "model.shadow_started",
            version.id,
            {"audience": version.audience, "digest": version.digest, "replaced": list(replaced)},
            now,
        )
    engine.stop_shadow(version.audience)
    scored = engine.start_shadow(version.id, model, now, progress=progress)
    with engine.store.engine.connect() as conn:
        current = version_text(conn, version_id)
    assert current is not None
    return current[0], scored


def stop_shadow(
    engine: Engine, version_id: str, *, actor: str = "system", now: float | None = None
) -> ModelVersion:
    """Take a version out of shadow (back to draft) and drop its numbers; audited as
    ``actor``'s at ``now`` (default: the clock) when it was in shadow."""
    with engine.store.transaction() as conn:
        found = version_text(conn, version_id)
        if found is None:
            raise KeyError(version_id)
        version = found[0]
        if version.status == "shadow":
            conn.execute(
                sa.update(model_versions)
                .where(model_versions.c.id == version.id)
                .values(status="draft")
            )
            audit.record(
                conn,
                actor,
                "model.shadow_stopped",
                version.id,
                {"audience": version.audience, "digest": version.digest},
                time.time() if now is None else now,
            )
    if engine.shadows.get(version.audience, ("",))[0] == version.id:
        engine.stop_shadow(version.audience)
    with engine.store.engine.connect() as conn:
        current = version_text(conn, version_id)
    assert current is not None
    return current[0]


def mark_active(
    conn: sa.Connection, version: ModelVersion, now: float, *, actor: str = "system"
) -> None:
    """Make ``version`` its audience's active version; the one before is retired. Audited
    as ``actor``'s."""
    before = conn.scalars(
        sa.select(model_versions.c.id).where(
            model_versions.c.audience == version.audience,
            model_versions.c.status == "active",
            model_versions.c.id != version.id,
        )
    ).all()
    conn.execute(
        sa.update(model_versions)
        .where(model_versions.c.audience == version.audience, model_versions.c.status == "active")
        .values(status="retired")
    )
    conn.execute(
        sa.update(model_versions)
        .where(model_versions.c.id == version.id)
        .values(status="active", activated_at=datetime.fromtimestamp(now, UTC))
    )
    audit.record(
        conn,
        actor,
        "model.activated",
        version.id,
        {"audience": version.audience, "digest": version.digest, "retired": list(before)},
        now,
    )


Progress = Callable[[int, int], None]


def activate(
    engine: Engine,
    version_id: str,
    lists: Mapping[str, tuple[str, ...]],
    now: float,
    progress: Progress | None = None,
    *,
    actor: str = "system",
) -> tuple[ModelVersion, int]:
    """Make a stored version active and rescore its audience; returns it and the number
    of leads rescored. Audited as ``actor``'s. Raises KeyError for an unknown version."""
    with engine.store.transaction() as conn:
        found = version_text(conn, version_id)
        if found is None:
            raise KeyError(version_id)
        version, text = found
        model = parse_model(text, f"version {version.id}", lists)
        mark_active(conn, version, now, actor=actor)
    if engine.shadows.get(version.audience, ("",))[0] == version.id:
        engine.stop_shadow(version.audience)  # promoted: its shadow numbers are moot
    engine.models[version.audience] = model
    rescored = engine.rescore(version.audience, now, progress=progress)
    with engine.store.engine.connect() as conn:
        current = version_text(conn, version_id)
    assert current is not None
    return current[0], rescored
