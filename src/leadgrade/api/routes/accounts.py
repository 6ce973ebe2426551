"""Accounts: employer companies, rolled up from their contacts' leads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from leadgrade.accounts import ACCOUNT_SORTS, find_accounts, get_account
from leadgrade.api.deps import EngineDep, NowDep, ReadKey
from leadgrade.api.paging import CursorQuery, GradeQuery, LimitQuery, keyset_page
from leadgrade.api.schemas import AccountDetail, AccountPage

router = APIRouter(tags=["accounts"])


@router.get("/v1/accounts", response_model=AccountPage)
def list_accounts(
    engine: EngineDep,
    now: NowDep,
    _key: ReadKey,
    audience: str | None = None,
    mqa: Annotated[bool | None, Query(description="only MQAs (true) or only others")] = None,
    grade: GradeQuery = None,
    min_score: float | None = None,
    sort: Annotated[
        str,
        Query(
            pattern="^(score|engagement|contacts)$",
            description="score or engagement (highest first), or engaged contacts",
        ),
    ] = "score",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Accounts with their numbers now: fit of their best contact, engagement summed
    over their contacts (decayed to this moment), grade and MQA status."""
    with engine.store.engine.connect() as conn:
        found = find_accounts(
            conn,
            engine.models,
            now,
            audience=audience,
            mqa=mqa,
            grade=grade,
            min_score=min_score,
            sort=sort,
        )
    page, following = keyset_page(found, ACCOUNT_SORTS[sort], sort, limit, cursor)
    return {"items": [view.item() for view in page], "next": following}


@router.get("/v1/accounts/{account_id}", response_model=AccountDetail)
def read_account(account_id: str, engine: EngineDep, now: NowDep, _key: ReadKey) -> dict[str, Any]:
    """One account now, with its contacts, most engaged first."""
    with engine.store.engine.connect() as conn:
        view = get_account(conn, engine.models, account_id, now)
    if view is None:
        raise HTTPException(404, f"no account {account_id!r}")
    return view.item() | {"people": [contact.item() for contact in view.contacts]}
