"""Lead attributes as rules see them: snake_case names, derived fields filled in."""

from __future__ import annotations

from collections.abc import Mapping

from leadgrade.core.lint import words


def attribute_name(header: str) -> str:
    """``Job Title``, ``jobTitle`` and ``job-title`` all name the attribute ``job_title``."""
    return "_".join(words(header))


def enrich(attributes: Mapping[str, object]) -> dict[str, object]:
    """``attributes`` plus what can be derived: ``email_domain`` from ``email``."""
    out = dict(attributes)
    email = out.get("email")
    if not out.get("email_domain") and isinstance(email, str) and "@" in email:
        out["email_domain"] = email.rsplit("@", 1)[1].strip().lower()
    return out
