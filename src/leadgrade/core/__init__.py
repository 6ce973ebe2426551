"""The pure core: model files, conditions, scoring, decay and explanations. No I/O, no clock."""

from leadgrade.core.model import Model, ModelError, Problem, check_model, parse_model
from leadgrade.core.scoring import (
    Contribution,
    EngagementState,
    Event,
    Scorecard,
    engagement_reaches,
    score,
    score_matches,
    score_reaches,
)

__all__ = [
    "Contribution",
    "EngagementState",
    "Event",
    "Model",
    "ModelError",
    "Problem",
    "Scorecard",
    "check_model",
    "engagement_reaches",
    "parse_model",
    "score",
    "score_matches",
    "score_reaches",
]
