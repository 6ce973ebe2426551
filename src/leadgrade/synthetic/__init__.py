"""A synthetic staffing firm for ``leadgrade demo``: employer accounts and their contacts,
candidates, and six months of their events, drawn from a seed.

The generative story (told for people in ``docs/demo.md``)
----------------------------------------------------------
The firm, *Lone Star Staffing*, places contract and permanent staff from branches in seven
southern states. It markets on two sides.

**Employers.** Each account (a client company: name, ``.example`` domain, industry,
employee count, state) has a latent hiring **need** between 0 and 1. Its contacts have a job
title from a realistic seniority mix (few chiefs and VPs, many managers and specialists)
and a function (talent acquisition and HR buy staffing; engineering, operations and
nursing leaders hire through it). A contact's latent **intent** is the account's need,
raised for talent and HR people and spread by a personal factor. A few accounts are rival
agencies: keen on our pricing pages, never clients.

**Candidates.** Each has a job category, skills, a city and state, and a latent **intent**:
how actively they are looking.

**Engagement follows intent.** A person's visits to the website arrive as a Poisson count
whose mean grows with intent, and the keener a person is, the more of their visits crowd
around a moment of need (a hiring project, a job search) that lies closer to the present.
Keen people also go deeper: employers read pricing and service pages, download salary
guides, register for webinars and, rarely and only when very keen (probability ∝ intent²·⁵
per visit), ask for a consultation, a proposal or a demo; candidates view job pages, apply,
sign up for alerts, join the talent community, take assessments and reply to recruiters.
Everyone gets the firm's newsletters, which they open and click more when keen. Most
browsers' cookies (``anonymous_id``) were tied to their person before the six months; the
others browse anonymously until they fill in a form or follow an e-mail link, and that
event names both, so the store merges the visitor into the person.

**Conversion follows intent and fit.** Sales and recruiters work an MQL (``sales.py``):
accept or reject it, qualify it, open an opportunity, win — each step with a probability
that rises with the person's **quality**, their *propensity* (can they buy or be placed:
an account of the right size, industry and state and a contact with authority over
hiring; a candidate in a category with open job orders, with in-demand skills, in a state
we serve) times ``0.3 + 0.7 · intent``. Rival agencies are disqualified; personal
mailboxes rarely convert. The model sees the propensity only through the attributes its
fit rules read, and the intent only through the events — as a real model would.

Every event has a stable id (``demo<seed>-<person>-<n>``), so storing the firm twice stores
it once. Sizes scale with ``scale``: 300 accounts (about 2,000 contacts) and 10,000
candidates at 1.0, about 110,000 events. Nothing here reads a clock or a file: ``now`` is
a parameter, and the same seed, scale and ``now`` give the same firm.
"""

from __future__ import annotations

from leadgrade.synthetic.firm import (
    ACCOUNTS,
    CANDIDATES,
    DAY,
    SEED,
    SPAN_DAYS,
    Account,
    Firm,
    Person,
    generate,
)
from leadgrade.synthetic.sales import ACTOR, Move, sales_moves

#: Named scales for the command line; any positive number works too.
SCALES = {"small": 0.03, "full": 1.0}

__all__ = [
    "ACCOUNTS",
    "ACTOR",
    "CANDIDATES",
    "DAY",
    "SCALES",
    "SEED",
    "SPAN_DAYS",
    "Account",
    "Firm",
    "Move",
    "Person",
    "generate",
    "sales_moves",
]
