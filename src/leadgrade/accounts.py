"""Reading accounts: employer companies with their numbers now, rolled up from their
contacts' leads. The API and the CLI read through here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadgrade.core import EngagementState, Model
from leadgrade.core.accounts import AccountCard, ContactSums, account_card
from leadgrade.core.scoring import engagement_at, engagement_value
from leadgrade.engine import account_sums
from leadgrade.store.schema import accounts, leads, people
from leadgrade.times import epoch


@dataclass(frozen=True)
class Contact:
    lead_id: str
    person_id: str
    email: str | None
    fit: float
    engagement: float  # now
    stage: str

    def item(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "person_id": self.person_id,
            "email": self.email,
            "fit": round(self.fit, 4),
            "engagement": round(self.engagement, 4),
            "stage": self.stage,
        }


@dataclass(frozen=True)
class AccountView:
    id: str
    audience: str
    domain: str
    name: str | None
    card: AccountCard  # now
    mqa_since: float | None
    contacts: tuple[Contact, ...]  # most engaged first; only for a single account

    def item(self) -> dict[str, Any]:
        """The account as an API list item."""
        return {
            "id": self.id,
            "audience": self.audience,
            "domain": self.domain,
            "name": self.name,
            "fit": round(self.card.fit, 4),
            "engagement": round(self.card.engagement, 4),
            "score": round(self.card.score, 4),
            "grade": self.card.grade,
            "mqa": self.card.mqa,
            "mqa_since": self.mqa_since,
            "contacts": self.card.contacts,
            "engaged_contacts": self.card.engaged,
        }


#: How accounts can be ordered (highest first; ties by domain, so pages are stable).
ACCOUNT_SORTS: dict[str, Callable[[AccountView], tuple[Any, ...]]] = {
    "score": lambda v: (-v.card.score, v.domain, v.id),
    "engagement": lambda v: (-v.card.engagement, v.domain, v.id),
    "contacts": lambda v: (-v.card.engaged, -v.card.contacts, v.domain, v.id),
}


def find_accounts(
    conn: sa.Connection,
    models: Mapping[str, Model],
    now: float,
    *,
    audience: str | None = None,
    account_id: str | None = None,
    mqa: bool | None = None,
    grade: str | None = None,
    min_score: float | None = None,
    sort: str = "score",
) -> list[AccountView]:
    """Accounts with their numbers valued now, summed over their contacts' leads in one
    aggregate query (engagement decays by the minute, so the roll-up stored at the last
    event is only as fresh as that event). With ``account_id``, its contacts too."""
    query = sa.select(accounts)
    if audience is not None:
        query = query.where(accounts.c.audience == audience)
    if account_id is not None:
        query = query.where(accounts.c.id == account_id)
    found = {row.id: row for row in conn.execute(query)}
    if not found:
        return []
    sums = account_sums(
        conn,
        models,
        now,
        account_ids=None if account_id is None else [account_id],
        audience=audience,
    )
    views = []
    for id_, row in found.items():
        model = models.get(row.audience)
        if model is None or model.accounts is None:
            continue
        card = account_card(model, sums.get(id_, ContactSums()))
        if mqa is not None and card.mqa != mqa:
            continue
        if grade is not None and card.grade != grade:
            continue
        if min_score is not None and card.score < min_score:
            continue
        views.append(
            AccountView(
                row.id,
                row.audience,
                row.domain,
                row.name,
                card,
                None if row.mqa_since is None or not card.mqa else epoch(row.mqa_since),
                _contacts(conn, model, row.id, now) if account_id is not None else (),
            )
        )
    views.sort(key=ACCOUNT_SORTS[sort])
    return views


def _contacts(
    conn: sa.Connection, model: Model, account_id: str, now: float
) -> tuple[Contact, ...]:
    """An account's contacts with their engagement now, most engaged first."""
    rows = conn.execute(
        sa.select(
            leads.c.id,
            leads.c.person_id,
            leads.c.fit,
            leads.c.stage,
            leads.c.model_digest,
            leads.c.engagement_anchored,
            leads.c.engagement_static,
            people.c.attributes,
        )
        .join(people, people.c.id == leads.c.person_id)
        .where(leads.c.account_id == account_id, leads.c.audience == model.audience)
    )
    found = []
    for row in rows:
        if row.model_digest != model.digest:
            continue
        if row.engagement_anchored is None:
            state_data = conn.scalar(sa.select(leads.c.state).where(leads.c.id == row.id))
            state = EngagementState.from_dict(model, state_data or {})
            engagement = engagement_value(model, state, max(now, state.as_of or now))
        else:
            engagement = engagement_at(model, row.engagement_anchored, row.engagement_static, now)
        email = (row.attributes or {}).get("email")
        found.append(
            Contact(
                row.id,
                row.person_id,
                email if isinstance(email, str) else None,
                row.fit,
                engagement,
                row.stage,
            )
        )
    return tuple(sorted(found, key=lambda c: (-c.engagement, c.lead_id)))


def get_account(
    conn: sa.Connection, models: Mapping[str, Model], account_id: str, now: float
) -> AccountView | None:
    found = find_accounts(conn, models, now, account_id=account_id)
    return found[0] if found else None
