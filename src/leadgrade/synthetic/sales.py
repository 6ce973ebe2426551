"""What sales and recruiters do with the demo firm's MQLs: drawn from the person's latent
quality, so that conversion really does follow fit and intent."""

from __future__ import annotations

import random
from dataclasses import dataclass

from leadgrade.synthetic.firm import DAY, Person
from leadgrade.synthetic.words import SERVED_STATES

ACTOR = "sales (demo)"

# Per audience: (stage, why it was reached, why it was not), and the mean days to it.
STEPS = {
    "employer": (
        ("sal", "accepted: discovery call booked", "", 1.2),
        ("sql", "qualified: budget, authority and open job orders", "went quiet after the call", 8),
        ("opportunity", "opportunity: proposal sent", "hiring freeze this quarter", 14),
        ("won", "won: master services agreement signed", "lost to another agency on rates", 20),
    ),
    "candidate": (
        ("sal", "accepted: recruiter reviewed the profile", "", 0.6),
        ("sql", "qualified: applied and passed screening", "did not pass screening", 5),
        ("opportunity", "submitted to a client: interviews scheduled", "no client submission", 6),
        ("won", "placed: started an assignment", "not selected after interviews", 10),
    ),
}
REJECTIONS = {
    "employer": (
        "rejected: no open roles this quarter",
        "rejected: not the decision maker; asked for an introduction",
        "rejected: tied to an MSP with a closed vendor list",
    ),
    "candidate": (
        "rejected: no matching job orders right now",
        "rejected: wants a pay rate above our open orders",
        "rejected: not looking until next quarter",
    ),
}


@dataclass(frozen=True)
class Move:
    """A stage change, ``after`` seconds after the one before it (or the MQL)."""

    after: float
    to_stage: str
    reason: str


def sales_moves(person: Person, seed: int, episode: int) -> list[Move]:
    """What sales (or a recruiter) does with ``person``'s ``episode``-th MQL (0 for the
    first): accept or reject it, then qualify, open an opportunity and win — each step
    likelier the higher the person's quality, each after a plausible delay. An empty
    list: nobody got to it, and the MQL waits."""
    rng = random.Random(f"{seed}:{person.key}:{episode}")
    q = min(1.0, 2 * person.quality)  # a quality of 0.5 is as good as it gets
    steps = STEPS[person.audience]
    if rng.random() >= (0.93 if episode == 0 else 0.9):
        return []

    def wait(step: int) -> float:
        return (0.05 + rng.expovariate(1 / steps[step][3])) * DAY

    if person.competitor:
        return [Move(wait(0), "disqualified", "disqualified: a rival agency researching us")]
    if rng.random() >= 0.2 + 0.7 * q:
        if person.audience == "employer" and person.free_mail:
            return [Move(wait(0), "disqualified", "disqualified: personal e-mail, no company")]
        far = person.attributes.get("state") not in SERVED_STATES
        if person.audience == "candidate" and far and rng.random() < 0.5:
            return [Move(wait(0), "disqualified", "disqualified: lives where we do not place")]
        return [Move(wait(0), "recycled", rng.choice(REJECTIONS[person.audience]))]
    chances = (1.0, 0.2 + 0.6 * q, 0.25 + 0.5 * q, 0.2 + 0.6 * q)
    moves = []
    for step, ((stage, reached, missed, _), chance) in enumerate(zip(steps, chances, strict=True)):
        if rng.random() >= chance:
            moves.append(Move(wait(step), "recycled", f"recycled: {missed}"))
            break
        moves.append(Move(wait(step), stage, reached))
    return moves
