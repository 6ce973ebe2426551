"""Rounding an explanation for people: shown points that still add up to the shown score."""

from __future__ import annotations

import math
from collections.abc import Sequence

from leadgrade.core.scoring import Contribution, Scorecard


def apportion(values: Sequence[float], places: int = 2) -> list[float]:
    """``values`` rounded to ``places`` decimals so that they sum exactly to their total
    rounded the same way (largest-remainder rounding), as a person checking the
    explanation by hand expects."""
    scale = 10**places
    total = round(math.fsum(values) * scale)
    floors = [math.floor(v * scale) for v in values]
    short = total - sum(floors)
    by_remainder = sorted(range(len(values)), key=lambda i: floors[i] - values[i] * scale)
    for i in by_remainder[: max(0, short)]:
        floors[i] += 1
    return [f / scale for f in floors]


def shown(card: Scorecard, places: int = 2) -> list[tuple[Contribution, float]]:
    """A scorecard's contributions with the points to show for each (see :func:`apportion`)."""
    rounded = apportion([c.points for c in card.contributions], places)
    return list(zip(card.contributions, rounded, strict=True))


def explanation(card: Scorecard) -> list[dict[str, object]]:
    """The explanation as plain data (the API's and the CLI's JSON): each contribution with
    its points as shown."""
    return [
        {
            "rule": c.rule_id,
            "kind": c.kind,
            "clip": c.clip,
            "points": points,
            "reason": c.reason,
            "description": c.description,
            "events": c.events,
            "event_ids": list(c.event_ids),
        }
        for c, points in shown(card)
    ]
