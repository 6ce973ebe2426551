"""Self-identified demographics, kept apart from scoring data and read only by the
fairness report (admin keys only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, Field

from leadgrade.api.deps import AdminKey, EngineDep, NowDep
from leadgrade.api.schemas import Strict
from leadgrade.audit import api_actor
from leadgrade.fairness import DemographicsError, record_demographics

router = APIRouter(tags=["people"])


class DemographicsBody(Strict):
    fields: dict[str, str | bool | None] = Field(
        max_length=40,
        description='field → the person\'s own answer, e.g. {"sex": "female", '
        '"race_ethnicity": "Hispanic or Latino", "veteran": "no"}; null or empty '
        "leaves a field out",
        examples=[{"sex": "female", "race_ethnicity": "Hispanic or Latino", "age_band": "40+"}],
    )
    collected_at: AwareDatetime | None = Field(
        default=None, description="when the person answered (default: now)"
    )


@router.put("/v1/people/{person_id}/demographics")
def put_demographics(
    person_id: str, body: DemographicsBody, engine: EngineDep, now: NowDep, key: AdminKey
) -> dict[str, Any]:
    """Replace a person's self-identified demographics (for the fairness report only: no
    score reads them). The audit log records the field names, not the answers."""
    collected = None if body.collected_at is None else body.collected_at.timestamp()
    try:
        with engine.store.transaction() as conn:
            person, stored = record_demographics(
                conn, person_id, body.fields, now, actor=api_actor(key), collected_at=collected
            )
    except KeyError:
        raise HTTPException(404, f"no person {person_id!r}") from None
    except DemographicsError as exc:
        raise HTTPException(422, [{"path": f"$.fields.{exc.field}", "message": str(exc)}]) from None
    return {"person_id": person, "fields": sorted(stored)}
