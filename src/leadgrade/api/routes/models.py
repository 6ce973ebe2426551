"""Model versions: list, add a draft, activate (which rescores the audience)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import Field

from leadgrade.api.deps import AdminKey, EngineDep, NowDep, ReadKey
from leadgrade.api.schemas import Strict
from leadgrade.audit import api_actor
from leadgrade.core import ModelError
from leadgrade.shadow import shadow_report
from leadgrade.versions import (
    activate,
    add_version,
    list_versions,
    start_shadow,
    stop_shadow,
    version_text,
)

router = APIRouter(tags=["models"])


class ModelBody(Strict):
    yaml: str = Field(min_length=1, max_length=1_000_000, description="the model file's text")


@router.get("/v1/models")
def get_models(engine: EngineDep, _key: ReadKey, audience: str | None = None) -> dict[str, Any]:
    """Every stored version, with which one scores each audience."""
    with engine.store.engine.connect() as conn:
        versions = list_versions(conn, audience)
    return {"items": [v.public() for v in versions]}


@router.post("/v1/models", status_code=201)
def post_model(
    body: ModelBody, request: Request, engine: EngineDep, now: NowDep, key: AdminKey
) -> dict[str, Any]:
    """Store a model as a draft version (the same text twice is one version). A model that
    does not load is refused with every problem, by line and key."""
    try:
        with engine.store.transaction() as conn:
            version, _ = add_version(
                conn, body.yaml, "request", request.app.state.lists, now, actor=api_actor(key)
            )
    except ModelError as exc:
        raise HTTPException(
            422,
            [
                {"path": "$.yaml", "line": p.line, "key": p.key, "message": p.message}
                for p in exc.problems
            ],
        ) from None
    return version.public()


@router.post("/v1/models/{version_id}/activate")
def post_activate(
    version_id: str, request: Request, engine: EngineDep, now: NowDep, key: AdminKey
) -> dict[str, Any]:
    """Make a version its audience's active model and rescore every lead of it."""
    try:
        version, rescored = activate(
            engine, version_id, request.app.state.lists, now, actor=api_actor(key)
        )
    except KeyError:
        raise HTTPException(404, f"no model version {version_id!r}") from None
    return {"version": version.public(), "rescored": rescored}


@router.post("/v1/models/{version_id}/shadow")
def post_shadow(
    version_id: str, request: Request, engine: EngineDep, now: NowDep, key: AdminKey
) -> dict[str, Any]:
    """Run a version in shadow: it scores every lead of its audience beside the active
    version, apart (no stage moves), from the event history and then with every new
    event. Answers with the comparison, as ``GET`` does."""
    try:
        version, scored = start_shadow(
            engine, version_id, request.app.state.lists, now, actor=api_actor(key)
        )
    except KeyError:
        raise HTTPException(404, f"no model version {version_id!r}") from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    report = shadow_report(engine, version.audience, now)
    assert report is not None
    return {"version": version.public(), "scored": scored, "comparison": report.public()}


@router.get("/v1/models/{version_id}/shadow")
def get_shadow(version_id: str, engine: EngineDep, now: NowDep, _key: ReadKey) -> dict[str, Any]:
    """What activating the shadow version would change now: MQLs gained and lost (with
    example lead ids), mean scores, and how grades move."""
    with engine.store.engine.connect() as conn:
        found = version_text(conn, version_id)
    if found is None:
        raise HTTPException(404, f"no model version {version_id!r}")
    version = found[0]
    running = engine.shadows.get(version.audience)
    if running is None or running[0] != version_id:
        raise HTTPException(409, f"version {version_id!r} is not in shadow ({version.status})")
    report = shadow_report(engine, version.audience, now)
    assert report is not None
    return {"version": version.public(), "comparison": report.public()}


@router.delete("/v1/models/{version_id}/shadow")
def delete_shadow(version_id: str, engine: EngineDep, now: NowDep, key: AdminKey) -> dict[str, Any]:
    """Stop running a version in shadow (back to draft); its numbers are dropped."""
    try:
        version = stop_shadow(engine, version_id, actor=api_actor(key), now=now)
    except KeyError:
        raise HTTPException(404, f"no model version {version_id!r}") from None
    return {"version": version.public()}
