from __future__ import annotations

import math
import textwrap

import pytest
import yaml

from leadgrade.core import ModelError, check_model, parse_model
from tests.conftest import BASE_MODEL, build, model_dict

VALID = yaml.safe_dump(BASE_MODEL, sort_keys=False)


def problems_of(text: str, lists: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    model, problems = check_model(textwrap.dedent(text), "m.yaml", lists or {})
    assert model is None, "expected the model to be refused"
    return [str(p) for p in problems if p.severity == "error"]


def with_line(replace: str, by: str) -> str:
    assert replace in VALID, replace
    return VALID.replace(replace, by, 1)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_base_model_loads_with_its_rules_compiled(base_model) -> None:
    assert base_model.audience == "employer"
    assert base_model.kind == "employer"
    assert [r.id for r in base_model.fit_rules] == ["title", "size", "free-email"]
    assert [r.id for r in base_model.engagement_rules] == ["pricing", "demo", "unsub"]
    pricing = base_model.engagement_rules[0]
    assert (pricing.cap, pricing.window, pricing.limit) == (30, 30 * 86400, 3)
    unsub = base_model.engagement_rules[2]
    assert (unsub.cap, unsub.once, unsub.decays) == (20, True, False)
    # lose 25% per 90 days is a half-life of 90·ln2/−ln0.75 ≈ 216.85 days
    assert base_model.half_life == pytest.approx(90 * 86400 * math.log(2) / -math.log(0.75))
    assert base_model.half_life / 86400 == pytest.approx(216.848, abs=1e-3)


def test_half_life_form_and_no_decay() -> None:
    assert build(model_dict(**{"engagement.decay": {"half_life": "217d"}})).half_life == 217 * 86400
    no_decay = model_dict()
    del no_decay["engagement"]["decay"]
    model = build(no_decay)
    assert model.half_life is None
    assert model.decay_rate == 0.0


def test_an_unknown_key_is_an_error_with_its_line_and_a_hint() -> None:
    text = with_line("field: job_title", "feild: job_title")
    errors = problems_of(text)
    line = line_of(text, "feild")
    assert any(
        e.startswith(
            f"m.yaml:{line}: fit.rules[0].feild: unknown key 'feild'; did you mean 'field'?"
        )
        for e in errors
    ), errors
    assert any("fit.rules[0]: missing key 'field'" in e for e in errors), errors


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (
            {"engagement.decay": {"per": "90x", "lose": "25%"}},
            "engagement.decay.per",
            "'90x' is not a duration",
        ),
        (
            {"engagement.decay": {"per": "90d", "lose": "125%"}},
            "engagement.decay.lose",
            "between 0% and 100%",
        ),
        ({"engagement.decay": {"per": "90d"}}, "engagement.decay", "give half_life"),
        (
            {"engagement.rules.0.cap": {"points": 0, "per": "1d"}},
            "engagement.rules[0].cap.points",
            "greater than 0",
        ),
        ({"engagement.rules.1.points": 0}, "engagement.rules[1]", "points must not be zero"),
        ({"engagement.rules.2.cap": {"points": 5}}, "engagement.rules[2]", "once: true already"),
        ({"fit.rules.0.matches": "(unclosed"}, "fit.rules[0].matches", "not a valid regular"),
        (
            {"fit.rules.1.bins": [{"between": [200, 50], "points": 5}]},
            "fit.rules[1].bins[0]",
            "low end",
        ),
        ({"fit.rules.0.points": None}, "fit.rules[0]", "give the rule's points"),
        ({"fit.min": 60}, "fit", "must be below max"),
        ({"grades.fit": {"A": 10, "B": 30, "C": 15}}, "grades.fit", "must fall from A to C"),
        ({"mql.when": {"grades": ["A5"]}}, "mql.when.grades[0]", "should match pattern"),
        ({"mql.when": {}}, "mql.when", "give at least one of"),
        ({"audience": "Employer Leads"}, "audience", "should match pattern"),
        (
            {"fit.rules.0.id": "pricing"},
            "engagement.rules[0].id",
            "rule id 'pricing' is already used on line",
        ),
        (
            {"fit.rules.2.in_list": "free_mail", "fit.rules.2.in": None},
            "fit.rules[2].in_list",
            "no named list 'free_mail'",
        ),
        (
            {"fit.rules.0.equals": {"a": 1}},
            "fit.rules[0].equals",
            "expected text, a number or true/false",
        ),
    ],
)
def test_invalid_models_name_the_key(change: dict[str, object], key: str, message: str) -> None:
    data = model_dict(**change)
    for rule in data["fit"]["rules"]:  # a None value means "remove the key"
        for name in [k for k, v in rule.items() if v is None]:
            del rule[name]
    text = yaml.safe_dump(data, sort_keys=False)
    errors = problems_of(text)
    assert any(f": {key}: " in e and message in e for e in errors), errors
    assert all(e.startswith("m.yaml:") for e in errors)


def test_errors_carry_the_line_of_the_key_in_the_file() -> None:
    text = """\
        audience: employer
        fit:
          max: 50
          rules:
            - id: size
              field: company_size
              between: [500, 50]
              points: 5
        engagement: {max: 100, rules: []}
        grades:
          fit: {A: 40, B: 30, C: 15}
          engagement: {1: 60, 2: 40, 3: 20}
        mql: {when: {score_at_lest: 65}}
    """
    errors = problems_of(text)
    assert any(e.startswith("m.yaml:7: fit.rules[0].between:") for e in errors), errors
    assert any(
        e.startswith("m.yaml:13: mql.when.score_at_lest: unknown key") and "score_at_least" in e
        for e in errors
    ), errors


def test_yaml_syntax_errors_and_duplicate_keys_have_lines() -> None:
    assert problems_of("audience: employer\nfit: [\n")[0].startswith("m.yaml:3: not valid YAML")
    errors = problems_of("audience: employer\naudience: candidate\n")
    assert errors == ["m.yaml:2: duplicate key 'audience'"]
    assert problems_of("- a list\n") == ["m.yaml:1: a model file is a mapping (audience, fit, …)"]


def test_parse_model_raises_with_every_problem() -> None:
    text = with_line("max: 50", "max: -1").replace("points: 40", "points: forty")
    with pytest.raises(ModelError) as caught:
        parse_model(text, "m.yaml")
    keys = {p.key for p in caught.value.problems}
    assert {"fit.max", "engagement.rules[1].points"} <= keys


def test_warnings_do_not_stop_a_model_loading() -> None:
    data = model_dict(
        **{
            "mql.when": {"score_at_least": 500},
            "grades.fit.A": 60,
            "fit.rules.0.matches": r"(?i)recent grad",
        }
    )
    data["grades"]["fit"]["B"] = 30
    model, problems = check_model(yaml.safe_dump(data), "m.yaml", {})
    assert model is not None
    warnings = [str(p) for p in problems]
    assert all(": warning: " in w for w in warnings), warnings
    text = "\n".join(warnings)
    assert "no lead can be an MQL" in text
    assert "no lead can be an A" in text
    assert "age- or sex-coded" in text
    assert "recent grad" in text


def test_an_in_list_rule_uses_the_named_list() -> None:
    data = model_dict(
        **{
            "fit.rules.2": {
                "id": "free-email",
                "field": "email_domain",
                "in_list": "free",
                "points": -10,
            }
        }
    )
    model = build(data, {"free": ("gmail.com", "Yahoo.com")})
    rule = model.fit_rules[2]
    assert rule.evaluate({"email_domain": "yahoo.com"}) == (
        -10,
        "email_domain 'yahoo.com' is in list 'free'",
    )


def test_cases_take_the_first_that_holds() -> None:
    data = model_dict(
        **{
            "fit.rules.0": {
                "id": "seniority",
                "field": "job_title",
                "cases": [
                    {"matches": "(?i)vp", "points": 12},
                    {"matches": "(?i)director", "points": 10},
                    {"exists": True, "points": 1},
                ],
            }
        }
    )
    rule = build(data).fit_rules[0]
    assert rule.evaluate({"job_title": "VP and Director"})[0] == 12
    assert rule.evaluate({"job_title": "Director"})[0] == 10
    assert rule.evaluate({"job_title": "Clerk"})[0] == 1
    assert rule.evaluate({}) is None


def test_an_event_rule_on_several_types_with_list_and_scalar_filters() -> None:
    data = model_dict(
        **{
            "engagement.rules.1": {
                "id": "reply",
                "event": ["email.reply", "sms.reply"],
                "points": 5,
                "where": {"form": ["a", "b"], "channel": "sms"},
            }
        }
    )
    model = build(data)
    assert [r.id for r in model.rules_for("sms.reply")] == ["reply"]
    assert [r.id for r in model.fed_by("sms.reply", {"form": "B", "channel": "SMS"})] == ["reply"]
    assert model.fed_by("sms.reply", {"form": "c", "channel": "sms"}) == ()
    assert model.fed_by("web.page_view", {"path": "/pricing/x"})[0].id == "pricing"
    assert model.fed_by("unknown.type", {}) == ()


def test_mql_when_combines_conditions_and_any() -> None:
    data = model_dict(
        **{
            "mql.when": {
                "fit_at_least": 15,
                "any": [{"score_at_least": 65}, {"grades": ["A1", "A2"]}],
            }
        }
    )
    model = build(data)
    assert model.is_mql(70, 20, 50, "C2")
    assert not model.is_mql(70, 10, 60, "D1")  # fit below 15
    assert model.is_mql(60, 45, 15, "A2")  # by grade
    assert not model.is_mql(60, 45, 15, "A4")
    assert model.mql.describe() == "fit ≥ 15 and (score ≥ 65 or grade in A1, A2)"


@pytest.mark.parametrize(
    ("fit", "engagement", "grade"),
    [
        (40, 60, "A1"),
        (39.99, 59.99, "B2"),
        (30, 40, "B2"),
        (15, 20, "C3"),
        (14.9, 19.9, "D4"),
        (-5, -5, "D4"),
    ],
)
def test_grade_thresholds_are_inclusive(
    base_model, fit: float, engagement: float, grade: str
) -> None:
    assert base_model.grade(fit, engagement) == grade


def test_the_shipped_models_load_and_every_rule_is_described(shipped_models) -> None:
    assert set(shipped_models) == {"employer", "candidate"}
    for model in shipped_models.values():
        assert not model.warnings, model.warnings
        assert model.half_life == pytest.approx(90 * 86400 * math.log(2) / -math.log(0.75))
        for rule in (*model.fit_rules, *model.engagement_rules):
            assert rule.description, rule.id
            assert "\n" not in rule.description, rule.id
        threshold = model.spec.mql.when.score_at_least
        assert threshold is not None
        assert 50 <= threshold <= 75


def test_the_employer_model_spends_fit_points_as_staffing_marketers_do(shipped_models) -> None:
    model = shipped_models["employer"]
    best = {r.id: max(points for _, points in r.cases) for r in model.fit_rules}
    assert best["title-seniority"] + best["title-function"] == 20
    assert best["company-size"] == 15
    assert best["target-industry"] == 10
    assert best["served-geography"] == 5
    assert model.fit_max == 50
    negative = {r.id for r in model.engagement_rules if r.points < 0}
    assert "unsubscribe" in negative
