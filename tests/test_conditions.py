from __future__ import annotations

import pytest

from leadgrade.core import conditions


def cond(**operands: object) -> conditions.Condition:
    return conditions.build(operands, {"free": ("gmail.com", "Yahoo.com")})


@pytest.mark.parametrize(
    ("operands", "value", "expected"),
    [
        ({"equals": "Staffing"}, "  staffing ", True),
        ({"equals": "Staffing"}, "Staffing agency", False),
        ({"equals": 50}, "50", True),
        ({"equals": 50}, "50.0", True),
        ({"equals": 50}, "fifty", False),
        ({"equals": True}, "yes", True),
        ({"equals": True}, True, True),
        ({"equals": True}, 1, True),
        ({"equals": True}, "no", False),
        ({"in": ["TX", "OK"]}, "tx", True),
        ({"in": ["TX", "OK"]}, "CA", False),
        ({"in": ["TX", "OK"]}, ["CA", "ok"], True),
        ({"in": ["50", "200"]}, 50, True),
        ({"in": [50, 200]}, "50.0", True),
        ({"in_list": "free"}, ["x", "gmail.com"], True),
        ({"exists": True}, [], False),
        ({"exists": False}, [], True),
        ({"in_list": "free"}, "YAHOO.COM", True),
        ({"in_list": "free"}, "acme.com", False),
        ({"matches": r"(?i)\bvp\b"}, "VP Talent", True),
        ({"matches": r"(?i)\bvp\b"}, "MVP", False),
        ({"between": [50, 200]}, "50", True),
        ({"between": [50, 200]}, "200", True),
        ({"between": [50, 200]}, "1,000", False),
        ({"between": [50, 2000]}, "1,000", True),
        ({"between": [50, 200]}, "n/a", False),
        ({"at_least": 10}, 10, True),
        ({"at_most": 10}, 10.5, False),
        ({"exists": True}, "x", True),
        ({"exists": True}, "  ", False),
        ({"exists": False}, None, True),
        ({"exists": False}, "x", False),
        ({"contains": "python"}, "SQL, Python, AWS", True),
        ({"contains": "python"}, ["sql", "Python"], True),
        ({"contains": "python"}, ["sql", "python3"], False),
        ({"prefix": "/pricing"}, "/Pricing/contract", True),
        ({"prefix": "/pricing"}, "/about/pricing", False),
        ({"at_least": 10, "at_most": 20}, "15", True),
        ({"at_least": 10, "at_most": 20}, "25", False),
    ],
)
def test_operator(operands: dict[str, object], value: object, expected: bool) -> None:
    assert cond(**operands).test(value) is expected


@pytest.mark.parametrize(
    "operands",
    [
        {"equals": "x"},
        {"in": ["x"]},
        {"matches": "."},
        {"between": [0, 1]},
        {"contains": "x"},
        {"prefix": ""},
        {"exists": True},
    ],
)
@pytest.mark.parametrize("missing", [None, "", "   "])
def test_a_missing_value_fails_every_operator_but_exists_false(
    operands: dict[str, object], missing: object
) -> None:
    assert cond(**operands).test(missing) is False
    assert cond(exists=False).test(missing) is True


def test_memoised_answers_keep_true_and_one_apart() -> None:
    condition = cond(equals=1)
    assert condition.test(1) is True
    assert condition.test(True) is False  # True == 1 as a dict key, not as an answer
    assert condition.test(1.0) is True


def test_descriptions_read_as_words() -> None:
    assert cond(prefix="/pricing").describe() == "starts with '/pricing'"
    assert cond(between=[50, 199]).describe() == "is between 50 and 199"
    assert cond(in_list="free").describe() == "is in list 'free'"
    assert cond(at_least=10, at_most=20).describe() == "is at least 10 and is at most 20"
