"""Continuous exponential decay and the closed-form time a decaying sum crosses a level.

Engagement at time t is ``E(t) = S + D·exp(−λ·(t − t₀))``: ``D`` the decaying part valued
at ``t₀``, ``S`` the part of rules that do not decay, ``λ = ln 2 / half-life``. Moving the
clock is one multiplication, and the instant E reaches a level ``L`` is
``t₀ + ln(D / (L − S)) / λ`` — the ``h · log₂(E₀ / T)`` of DESIGN §6.
"""

from __future__ import annotations

import math


def factor(rate: float, age: float) -> float:
    """What one point is worth ``age`` seconds later, at decay rate ``rate`` (per second)."""
    return math.exp(-rate * age) if rate else 1.0


def reaches(
    decaying: float, static: float, as_of: float, rate: float, level: float
) -> float | None:
    """The instant at or after ``as_of`` when ``static + decaying·exp(−rate·(t − as_of))``
    equals ``level``, or None when it never does (no decay, or the level lies at or beyond
    where the sum tends, or it was crossed before ``as_of``)."""
    if rate <= 0.0 or decaying == 0.0:
        return None
    ratio = (level - static) / decaying
    if not 0.0 < ratio <= 1.0:
        return None
    return as_of - math.log(ratio) / rate
