from __future__ import annotations

import pytest
import yaml

from leadgrade.core import check_model
from leadgrade.core.lint import guardrail_for, words
from tests.conftest import model_dict


def refusal(field: str, audience: str = "employer", where: bool = False) -> list[str]:
    data = model_dict(audience=audience)
    if where:
        data["engagement"]["rules"][0]["where"] = {field: {"exists": True}}
    else:
        data["fit"]["rules"][0]["field"] = field
    model, problems = check_model(yaml.safe_dump(data), "m.yaml", {})
    errors = [str(p) for p in problems if p.severity == "error"]
    assert (model is None) == bool(errors)
    return errors


@pytest.mark.parametrize(
    ("field", "guardrail"),
    [
        ("date_of_birth", "age"),
        ("DateOfBirth", "age"),
        ("dob", "age"),
        ("Birth Year", "age"),
        ("age_range", "age"),
        ("gender", "sex and gender"),
        ("candidate_sex", "sex and gender"),
        ("preferred_pronouns", "sex and gender"),
        ("salutation", "salutation"),
        ("Ethnicity", "race and ethnicity"),
        ("religion", "religion"),
        ("nationality", "national origin and citizenship"),
        ("citizenship_status", "national origin and citizenship"),
        ("requires-sponsorship", "work authorisation"),
        ("visa_status", "work authorisation"),
        ("disability", "disability and health"),
        ("veteran_status", "veteran status"),
        ("marital_status", "marital and family status"),
        ("number_of_children", "marital and family status"),
        ("ssn", "government identifiers"),
        ("photo_url", "photo"),
        ("grad_year", "graduation year (age proxy)"),
        ("graduationYear", "graduation year (age proxy)"),
        ("years_since_degree", "graduation year (age proxy)"),
        ("DOBYear", "age"),
        ("SSNLast4", "government identifiers"),
        ("medical_history", "disability and health"),
    ],
)
def test_protected_fields_are_refused_naming_the_guardrail(field: str, guardrail: str) -> None:
    errors = refusal(field)
    assert len(errors) == 1, errors
    assert f"the field {field!r} may not score" in errors[0]
    assert f"guardrail 'protected attributes never score' ({guardrail})" in errors[0]


@pytest.mark.parametrize("field", ["zip", "zip_code", "ZIPCode", "zip5", "postal_code", "postcode"])
def test_postal_codes_are_refused_for_candidates_only(field: str) -> None:
    errors = refusal(field, audience="candidate")
    assert errors
    assert "for the 'candidate' audience" in errors[0]
    assert "postal code" in errors[0]
    assert refusal(field, audience="employer") == []


def test_an_audience_not_declared_employer_gets_the_candidate_guardrails() -> None:
    assert refusal("zip", audience="talent")
    data = model_dict(audience="clients", kind="employer")
    data["fit"]["rules"][0]["field"] = "zip"
    model, _ = check_model(yaml.safe_dump(data), "m.yaml", {})
    assert model is not None


def test_event_properties_are_linted_too() -> None:
    errors = refusal("gender", where=True)
    assert errors
    assert "the event property 'gender' may not score" in errors[0]


@pytest.mark.parametrize(
    "field",
    [
        "page_views",
        "agency_size",
        "job_title",
        "title",
        "stage",
        "company_size",
        "healthcare_sector",
        "message",
        "visits",
        "raceway_events",
        "image_downloads",
        "email_domain",
        "state",
    ],
)
def test_ordinary_fields_pass(field: str) -> None:
    assert guardrail_for(field, candidates=True) is None, field


def test_words_split_camel_case_and_separators() -> None:
    assert words("dateOfBirth") == ["date", "of", "birth"]
    assert words("Date-of birth") == ["date", "of", "birth"]
    assert words("ZIPCode") == ["zip", "code"]
    assert words("DOBYear") == ["dob", "year"]
    assert words("SSNLast4") == ["ssn", "last", "4"]
    assert words("zip5") == ["zip", "5"]
    assert words("page_views") == ["page", "views"]


@pytest.mark.parametrize("field", ["year_born", "yearBorn", "born_on", "date_born"])
def test_born_phrases_are_age(field: str) -> None:
    guardrail = guardrail_for(field, candidates=False)
    assert guardrail is not None
    assert guardrail.name == "age"
