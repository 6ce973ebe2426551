"""leadgrade: lead scoring and MQL engine — fit plus continuously decaying engagement,
graded A1–D4, every score explained."""

from leadgrade.core import (
    Contribution,
    EngagementState,
    Event,
    Model,
    ModelError,
    Problem,
    Scorecard,
    check_model,
    parse_model,
    score,
    score_reaches,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "Contribution",
    "EngagementState",
    "Event",
    "Model",
    "ModelError",
    "Problem",
    "Scorecard",
    "__version__",
    "check_model",
    "parse_model",
    "score",
    "score_reaches",
]
