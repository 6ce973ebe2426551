"""Protected attributes stripped at the door (DESIGN §9.1, docs/compliance.md).

Whatever an ATS or CRM sends, a field whose name is a protected attribute or a proxy for
one — the terms of :func:`leadgrade.core.lint.guardrail_for`, plus names particular to a
vendor that those terms do not catch (Bullhorn's ``workAuthorized``, Jobvite's
``workStatus``) — is dropped before anything is stored. The log names the field and the
source, never the value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TypeVar

from leadgrade.core.lint import guardrail_for, words

logger = logging.getLogger(__name__)

V = TypeVar("V")

#: Vendor field names that are protected but that the guardrail terms miss, written as
#: their words run together (``workAuthorized`` is ``workauthorized``).
VENDOR_FIELDS: dict[str, frozenset[str]] = {
    "bullhorn": frozenset(
        {
            "workauthorized",  # work authorisation (IRCA)
            "i9onfile",  # the I-9 form is work authorisation
            "datei9expiration",
            "tobaccouser",  # health
            "totaldependentclaimamount",  # family status
            "federalfilingstatus",  # filing status reveals marital status
            "statefilingstatus",
            "localfilingstatus",
            "twojobs",  # "married filing jointly and the spouse works"
        }
    ),
    "jobvite": frozenset({"workstatus", "eeo", "eeoc", "eeocategory"}),
    "greenhouse": frozenset({"photourl"}),
    "salesforce": frozenset(),
    "hubspot": frozenset(),
}


def _joined(name: str) -> str:
    return "".join(words(name))


def protected(name: str, source: str, *, candidates: bool) -> bool:
    """Whether ``name`` (a field as ``source`` calls it) is a protected attribute: for
    candidates, postal codes too (a proxy for race and national origin)."""
    if guardrail_for(name, candidates=candidates) is not None:
        return True
    return _joined(name) in VENDOR_FIELDS.get(source, frozenset())


def strip(
    fields: Mapping[str, V], source: str, *, candidates: bool, where: str = ""
) -> tuple[dict[str, V], list[str]]:
    """``fields`` without the protected ones, and the names dropped (logged, with
    ``source``; never the values). ``where`` prefixes the logged names (``application.``)."""
    kept: dict[str, V] = {}
    dropped: list[str] = []
    for name, value in fields.items():
        if protected(name, source, candidates=candidates):
            dropped.append(where + name)
            logger.info("dropped the protected field %r from %s", where + name, source)
        else:
            kept[name] = value
    return kept, dropped
