"""Python regular expressions written for each engine: what they become, what is refused,
and RE2 (DuckDB) searching exactly as Python's ``re`` does on ASCII text."""

from __future__ import annotations

import re

import duckdb
import pytest

from leadgrade.sql.regex import RegexError, translate

PATTERNS = [
    r"(?i)\b(vp|director|head of)\b",
    r"^dir",
    r"ector$",
    r"a.c",
    r"(?s)a.c",
    r"\s+\S",
    r"[^a-z ]",
    r"\d{2,3}",
    r"x\Z",
    r"\Ay",
    r"(?:ab)+?c",
    r"[\w.-]+@",
    r"(?a)\w+\b",
    r"(?i)[A-C]-\.",
    r"recruit\w*",
    r"[]x]",
    r"a{0,2}b",
    r"[\s,]",
    r"(?x) a  b  # spaced",
]
TEXTS = [
    "VP Sales",
    " vp ",
    "Director",
    "head of talent",
    "ab\nc",
    "abc",
    "x\n",
    "x",
    "yes",
    "selector\n",
    "selector",
    "ababc",
    "a.b@x",
    "12",
    "1234",
    "\u00a0 x",
    "b-.",
    "Recruiter",
    "]",
    "aab",
    "a,b",
    "ab",
    "",
]


def test_re2_searches_as_python_does_on_these_texts() -> None:
    con = duckdb.connect()
    for pattern in PATTERNS:
        compiled = re.compile(pattern)
        translated = translate(compiled, "re2")
        for text in TEXTS:
            found = con.execute("SELECT regexp_matches(?, ?)", [text, translated]).fetchone()
            assert found is not None
            assert found[0] is (compiled.search(text) is not None), (pattern, translated, text)


@pytest.mark.parametrize(
    ("pattern", "flavor", "written"),
    [
        (r"\bvp\b", "postgres", r"\yvp\y"),
        (r"\bvp\b", "re2", r"\bvp\b"),
        (r"(?i)vp", "java", "(?iu)vp"),
        (r"a.c", "re2", r"a[^\n]c"),
        (r"x$", "postgres", r"x(?:\n?\Z)"),
        (r"x$", "re2", r"x(?:\n?\z)"),
        (r"^a", "java", r"\Aa"),
        (r"a b", "re2", "a b"),
        (r"(a|b)c", "re2", "(?:[ab])c"),
        (r"(ab|cd)e", "re2", "(?:ab|cd)e"),
        ("\u00e9t\u00e9", "re2", "\u00e9t\u00e9"),
    ],
)
def test_constructs_are_written_for_each_engine(pattern: str, flavor: str, written: str) -> None:
    assert translate(re.compile(pattern), flavor) == written  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "flavor", "message"),
    [
        (r"(a)\1", "java", "a backreference"),
        (r"(?<=a)b", "re2", "a lookahead or lookbehind"),
        (r"(?m)^a", "postgres", "multi-line mode"),
        (r"(?i:a)b", "postgres", "a flag scoped to a group"),
        (r"a$b", "re2", "'$' followed by more of the pattern"),
        (r"a{300}", "postgres", "a repetition count above 255"),
        (r"a*+", "re2", "a possessive quantifier"),
        (r"(?>a)", "postgres", "an atomic group"),
    ],
)
def test_what_an_engine_cannot_say_is_refused(pattern: str, flavor: str, message: str) -> None:
    with pytest.raises(RegexError, match=re.escape(message)):
        translate(re.compile(pattern), flavor)  # type: ignore[arg-type]


def test_lookarounds_are_kept_where_the_engine_has_them() -> None:
    assert translate(re.compile(r"(?<=a)b(?!c)"), "postgres") == "(?<=a)b(?!c)"
    assert translate(re.compile(r"(?<=a)b(?!c)"), "java") == "(?<=a)b(?!c)"
