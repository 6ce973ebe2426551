"""Account roll-up (pure): which account a contact belongs to, and an account's numbers
from its contacts' (DESIGN §2: B2B buying is done by committees, so an employer's
engagement is the sum of its people's)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leadgrade.core.attributes import enrich
from leadgrade.core.model import AccountRule, Model


def normal_domain(text: str) -> str | None:
    """``https://www.Acme.com/careers`` → ``acme.com``; None when nothing domain-like."""
    text = text.strip().lower()
    if not text:
        return None
    text = text.split("://", 1)[-1]  # a URL's scheme
    for end in "/?#":
        text = text.split(end, 1)[0]
    host = text.rsplit("@", 1)[-1].split(":", 1)[0]  # an e-mail's mailbox; a port
    host = host.removeprefix("www.").strip(".")
    return host if "." in host else None


def account_domain(rule: AccountRule, attributes: Mapping[str, object]) -> str | None:
    """The domain naming a contact's account: the ``domain_field`` attribute, else the
    e-mail's domain unless it is one to skip (a personal mailbox); None when neither."""
    given = attributes.get(rule.domain_field)
    if isinstance(given, str):
        domain = normal_domain(given)
        if domain is not None:
            return domain
    email_domain = enrich(attributes).get("email_domain")
    if isinstance(email_domain, str):
        domain = normal_domain(email_domain)
        if domain is not None and domain not in rule.skip_domains:
            return domain
    return None


@dataclass(frozen=True)
class ContactSums:
    """An account's contacts, summed: the best fit, the engagement summed (each contact's
    capped at ``engagement.max``), how many, and how many with engagement above zero."""

    fit: float | None = None
    engagement: float = 0.0
    contacts: int = 0
    engaged: int = 0

    def plus(self, fit: float, engagement: float) -> ContactSums:
        return ContactSums(
            fit if self.fit is None else max(self.fit, fit),
            self.engagement + engagement,
            self.contacts + 1,
            self.engaged + (engagement > 0),
        )

    @classmethod
    def of(cls, contacts: Iterable[tuple[float, float]]) -> ContactSums:
        """From each contact's (fit, engagement)."""
        pairs = list(contacts)
        return cls(
            max((f for f, _ in pairs), default=None),
            math.fsum(e for _, e in pairs),
            len(pairs),
            sum(1 for _, e in pairs if e > 0),
        )


@dataclass(frozen=True)
class AccountCard:
    fit: float  # the best contact's fit
    engagement: float  # the contacts' engagement summed, up to the rule's engagement_max
    score: float
    grade: str
    contacts: int
    engaged: int  # contacts with engagement above zero
    mqa: bool


def account_card(model: Model, sums: ContactSums) -> AccountCard:
    """An account's numbers from its contacts' sums, valued at one time."""
    rule = model.accounts
    assert rule is not None, "the model has no accounts section"
    fit = 0.0 if sums.fit is None else sums.fit
    engagement = min(sums.engagement, rule.engagement_max)
    grade = model.fit_letter(fit) + rule.engagement_digit(engagement)
    score = fit + engagement
    mqa = (
        rule.mqa is not None
        and sums.engaged >= rule.contacts_at_least
        and rule.mqa.holds(score, fit, engagement, grade)
    )
    return AccountCard(fit, engagement, score, grade, sums.contacts, sums.engaged, mqa)
