"""People: identify (and merge), and set attributes. Both refit the person's leads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from leadgrade.api.deps import EngineDep, IngestKey, NowDep, WriteKey
from leadgrade.api.schemas import IdentifyBody, PersonBody

router = APIRouter(tags=["people"])


@router.post("/v1/identify")
def identify(body: IdentifyBody, engine: EngineDep, now: NowDep, _key: IngestKey) -> dict[str, Any]:
    """Name a person by any of their ids and record traits; returns their person id."""
    return {"person_id": engine.identify(body.ref(), body.traits, now)}


@router.put("/v1/people/{person_id}")
def put_person(
    person_id: str, body: PersonBody, engine: EngineDep, now: NowDep, _key: WriteKey
) -> dict[str, Any]:
    """Replace a person's attributes; their leads' fit is rescored at once."""
    if not engine.set_attributes(person_id, body.attributes, now):
        raise HTTPException(404, f"no person {person_id!r}")
    return {"person_id": person_id, "attributes": body.attributes}
