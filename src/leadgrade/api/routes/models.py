"""Model versions: list, add a draft, activate (which rescores the audience)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import Field

from leadgrade.api.deps import AdminKey, EngineDep, NowDep, ReadKey
from leadgrade.api.schemas import Strict
from leadgrade.core import ModelError
from leadgrade.versions import activate, add_version, list_versions

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
    body: ModelBody, request: Request, engine: EngineDep, now: NowDep, _key: AdminKey
) -> dict[str, Any]:
    """Store a model as a draft version (the same text twice is one version). A model that
    does not load is refused with every problem, by line and key."""
    try:
        with engine.store.transaction() as conn:
            version, _ = add_version(conn, body.yaml, "request", request.app.state.lists, now)
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
    version_id: str, request: Request, engine: EngineDep, now: NowDep, _key: AdminKey
) -> dict[str, Any]:
    """Make a version its audience's active model and rescore every lead of it."""
    try:
        version, rescored = activate(engine, version_id, request.app.state.lists, now)
    except KeyError:
        raise HTTPException(404, f"no model version {version_id!r}") from None
    return {"version": version.public(), "rescored": rescored}
