"""The compliance lint: protected attributes and their proxies never score (DESIGN §9.1).

Field names are compared after normalisation: camelCase and every separator split a name
into words (``dateOfBirth``, ``date-of-birth`` and ``Date of Birth`` are the same three
words), and a name is protected when one of its words, or a run of consecutive words
written together, is a protected term. ``page_views`` is not ``age``; ``age_range`` is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Guardrail:
    name: str
    why: str
    terms: frozenset[str]
    candidates_only: bool = False


def _terms(*words: str) -> frozenset[str]:
    return frozenset(w.replace(" ", "").replace("_", "") for w in words)


_EEO = "a protected characteristic under Title VII of the US Civil Rights Act and the GDPR"

GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "age",
        "age and birth dates are protected (ADEA, GDPR); scoring on them discriminates",
        _terms(
            "age",
            "ages",
            "age range",
            "dob",
            "birth",
            "birthday",
            "birthdate",
            "date of birth",
            "birth date",
            "birth year",
            "year of birth",
            "yob",
            "year born",
            "born on",
            "date born",
        ),
    ),
    Guardrail(
        "sex and gender",
        f"sex, gender and pronouns are {_EEO}",
        _terms("gender", "sex", "pronoun", "pronouns", "gender identity", "sexual orientation"),
    ),
    Guardrail(
        "salutation",
        "a salutation (Mr, Ms, Mrs) encodes sex and marital status",
        _terms("salutation", "honorific", "name prefix", "courtesy title"),
    ),
    Guardrail(
        "race and ethnicity",
        f"race, ethnicity and colour are {_EEO}",
        _terms(
            "race", "racial", "ethnicity", "ethnic", "ethnic origin", "skin colour", "skin color"
        ),
    ),
    Guardrail(
        "religion",
        f"religion is {_EEO}",
        _terms("religion", "religious", "religious affiliation", "beliefs", "religious beliefs"),
    ),
    Guardrail(
        "national origin and citizenship",
        "national origin and citizenship are protected (Title VII, IRCA, GDPR)",
        _terms(
            "national origin",
            "nationality",
            "citizenship",
            "citizen",
            "country of birth",
            "place of birth",
            "birthplace",
            "immigration",
            "immigration status",
        ),
    ),
    Guardrail(
        "work authorisation",
        "work-authorisation and visa status may not be scored (IRCA anti-discrimination)",
        _terms(
            "work authorization",
            "work authorisation",
            "visa",
            "visa status",
            "sponsorship",
            "requires sponsorship",
            "right to work",
            "work permit",
        ),
    ),
    Guardrail(
        "disability and health",
        "disability, health and genetic data are protected (ADA, GINA, GDPR special category)",
        _terms(
            "disability",
            "disabled",
            "handicap",
            "health status",
            "health condition",
            "health data",
            "medical history",
            "medical records",
            "medical condition",
            "genetic",
            "genetics",
            "diagnosis",
        ),
    ),
    Guardrail(
        "veteran status",
        "veteran and military status are protected (USERRA, VEVRAA)",
        _terms("veteran", "veteran status", "military status", "protected veteran"),
    ),
    Guardrail(
        "marital and family status",
        "marital status, family status and pregnancy are protected (Title VII/PDA, state law)",
        _terms(
            "marital",
            "marital status",
            "married",
            "spouse",
            "family status",
            "children",
            "dependents",
            "dependants",
            "number of children",
            "pregnancy",
            "pregnant",
            "maternity",
            "paternity",
        ),
    ),
    Guardrail(
        "government identifiers",
        "social-security and tax ids are sensitive identifiers with no place in a score",
        _terms(
            "ssn",
            "social security",
            "social security number",
            "tax id",
            "tin",
            "national id",
            "national insurance",
            "passport",
        ),
    ),
    Guardrail(
        "photo",
        "a photo reveals race, sex, age and disability",
        _terms("photo", "photograph", "headshot", "selfie"),
    ),
    Guardrail(
        "graduation year (age proxy)",
        "graduation year and years since a degree stand in for age (ADEA)",
        _terms(
            "graduation year",
            "grad year",
            "year of graduation",
            "graduation date",
            "year graduated",
            "class of",
            "years since degree",
            "years since graduation",
            "degree year",
        ),
    ),
    Guardrail(
        "postal code (proxy for race and national origin)",
        "for candidates a ZIP or postal code stands in for race and national origin "
        "(disparate impact); score on the location you serve (city, metro, state) instead",
        _terms("zip", "zipcode", "zip code", "postal", "postcode", "postal code", "post code"),
        candidates_only=True,
    ),
)

_LONGEST = max(len(term) for g in GUARDRAILS for term in g.terms)
# Word boundaries inside a name: camelCase (dateOfBirth), an acronym before a word
# (DOBYear), and letters meeting digits (zip5, SSNLast4).
_CAMEL = re.compile(
    r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])"
)
_SPLIT = re.compile(r"[^a-z0-9]+")


def words(field: str) -> list[str]:
    """The words of a field name: ``dateOfBirth`` and ``date-of-birth`` both give
    ``["date", "of", "birth"]``; ``DOBYear`` gives ``["dob", "year"]``."""
    return [w for w in _SPLIT.split(_CAMEL.sub("_", field).lower()) if w]


def _phrases(parts: list[str]) -> Iterator[str]:
    for start in range(len(parts)):
        joined = ""
        for part in parts[start:]:
            joined += part
            if len(joined) > _LONGEST:
                break
            yield joined


def guardrail_for(field: str, *, candidates: bool) -> Guardrail | None:
    """The guardrail that forbids scoring on ``field``, or None when it may score."""
    phrases = set(_phrases(words(field)))
    for guardrail in GUARDRAILS:
        if guardrail.candidates_only and not candidates:
            continue
        if phrases & guardrail.terms:
            return guardrail
    return None


# Words in job ads and targeting that courts and the EEOC read as age- or sex-coded.
# Matching on them is not refused (a title may legitimately say "Junior"), only flagged.
CODED_LANGUAGE = re.compile(
    r"\b(young|youthful|recent (college )?grad(uate)?s?|digital natives?|energetic|"
    r"salesman|salesmen|chairman|foreman|manpower|he/him|she/her|mature|overqualified)\b",
    re.IGNORECASE,
)


def coded_words(text: str) -> list[str]:
    return sorted({m.group(0).lower() for m in CODED_LANGUAGE.finditer(text)})
