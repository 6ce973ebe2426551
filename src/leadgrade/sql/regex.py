"""A model's regular expressions (Python ``re`` syntax) in each engine's own syntax.

``matches`` is a Python regular expression searched anywhere in the value. The engines
speak other dialects: DuckDB and BigQuery use RE2, Spark uses ``java.util.regex``,
PostgreSQL its own ARE (where ``\\b`` is a backspace and the word boundary is ``\\y``).
The pattern is parsed with Python's own parser and written out again for the target,
construct by construct, so what it means does not change. A construct with no equal in
the target (a backreference, a lookaround on RE2, multi-line mode, …) is refused with
:class:`RegexError` naming it, rather than silently matching something else.

What stays the engine's: ``\\w``, ``\\W``, ``\\b``, ``\\B``, ``\\d`` and ``\\D`` are the
engine's own classes, and case-insensitive matching is the engine's. On ASCII text they
agree with Python's; on other letters (``é``, ``ß``) RE2's classes are ASCII-only while
Python's are Unicode. ``\\s`` and ``.`` are written out exactly.
"""

from __future__ import annotations

import re
import sys
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser as p  # type: ignore[attr-defined]
from typing import Any, Literal

Flavor = Literal["re2", "java", "postgres"]

#: Python's whitespace (``str.isspace``): what ``\\s`` matches and ``strip()`` removes.
WHITESPACE = "".join(ch for ch in map(chr, range(sys.maxunicode + 1)) if ch.isspace())
_ASCII_SPACE = " \t\n\r\f\v"
_ASCII_WORD = "0-9A-Za-z_"

_REPEAT_LIMIT = {"re2": 1000, "java": 1_000_000, "postgres": 255}


class RegexError(ValueError):
    """A pattern that this engine's regular expressions cannot say exactly."""


def translate(pattern: re.Pattern[str], flavor: Flavor) -> str:
    """``pattern`` in the syntax of ``flavor``, with search semantics kept."""
    try:
        parsed = p.parse(pattern.pattern, pattern.flags)
    except re.error as exc:  # pragma: no cover - the model validated it already
        raise RegexError(str(exc)) from None
    flags = parsed.state.flags
    if flags & re.MULTILINE:
        raise RegexError("multi-line mode (?m) has no exact form in SQL engines")
    writer = _Writer(flavor, ascii_only=bool(flags & re.ASCII), dotall=bool(flags & re.DOTALL))
    body = writer.sequence(list(parsed))
    if flags & re.IGNORECASE:
        # Java's (?i) is ASCII-only without u (UNICODE_CASE); Python's is Unicode.
        prefix = "(?iu)" if flavor == "java" else "(?i)"
        return prefix + body
    return body


def literal_class(characters: str, flavor: Flavor) -> str:
    """A character class matching exactly ``characters``, in the syntax of ``flavor``."""
    return "[" + _Writer(flavor, ascii_only=False, dotall=False).chars(characters) + "]"


class _Writer:
    def __init__(self, flavor: Flavor, *, ascii_only: bool, dotall: bool) -> None:
        self.flavor = flavor
        self.ascii_only = ascii_only
        self.dotall = dotall

    # ------------------------------------------------------------------ characters

    def char(self, code: int, in_class: bool = False) -> str:
        ch = chr(code)
        if (ch.isascii() and ch.isalnum()) or ch == " ":
            return ch
        if ch.isascii() and ch.isprintable() and ch != " ":
            if ch == "&" and not (in_class and self.flavor == "java"):
                return ch
            return "\\" + ch  # every engine reads backslash + punctuation as the character
        if not ch.isascii() and ch.isprintable() and not ch.isspace():
            return ch  # letters and symbols stand for themselves
        return self.code_point(code)

    def code_point(self, code: int) -> str:
        if self.flavor == "postgres":
            return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
        return f"\\x{{{code:x}}}"

    def chars(self, text: str) -> str:
        return "".join(self.char(ord(ch), in_class=True) for ch in text)

    def space_class(self, negate: bool) -> str:
        members = self.chars(_ASCII_SPACE if self.ascii_only else WHITESPACE)
        return f"[{'^' if negate else ''}{members}]"

    # -------------------------------------------------------------------- classes

    def category(self, name: Any, in_class: bool) -> str:
        """``\\d``, ``\\w``, ``\\s`` and their negations; inside a class without brackets."""
        if name in (c.CATEGORY_SPACE, c.CATEGORY_NOT_SPACE):
            negate = name == c.CATEGORY_NOT_SPACE
            if in_class:
                if negate:
                    raise RegexError("\\S inside a character class")
                return self.chars(_ASCII_SPACE if self.ascii_only else WHITESPACE)
            return self.space_class(negate)
        if self.ascii_only:
            ascii_classes = {
                c.CATEGORY_DIGIT: ("0-9", False),
                c.CATEGORY_NOT_DIGIT: ("0-9", True),
                c.CATEGORY_WORD: (_ASCII_WORD, False),
                c.CATEGORY_NOT_WORD: (_ASCII_WORD, True),
            }
            members, negate = ascii_classes[name]
            if in_class:
                if negate:
                    raise RegexError("a negated class escape inside a character class")
                return members
            return f"[{'^' if negate else ''}{members}]"
        escapes = {
            c.CATEGORY_DIGIT: "\\d",
            c.CATEGORY_NOT_DIGIT: "\\D",
            c.CATEGORY_WORD: "\\w",
            c.CATEGORY_NOT_WORD: "\\W",
        }
        if name not in escapes:  # pragma: no cover - no other categories in str patterns
            raise RegexError(f"the class {name}")
        escape = escapes[name]
        if in_class and self.flavor == "postgres" and escape in ("\\D", "\\W"):
            raise RegexError(f"{escape} inside a character class (PostgreSQL)")
        return escape

    def in_class(self, items: list[tuple[Any, Any]]) -> str:
        negate = False
        out = []
        for op, av in items:
            if op is c.NEGATE:
                negate = True
            elif op is c.LITERAL:
                out.append(self.char(av, in_class=True))
            elif op is c.RANGE:
                low, high = av
                out.append(f"{self.char(low, True)}-{self.char(high, True)}")
            elif op is c.CATEGORY:
                out.append(self.category(av, in_class=True))
            else:
                raise RegexError(f"{op} inside a character class")
        return f"[{'^' if negate else ''}{''.join(out)}]"

    # ------------------------------------------------------------------- sequences

    def sequence(self, items: list[tuple[Any, Any]]) -> str:
        out = []
        for position, (op, av) in enumerate(items):
            if op is c.AT and av is c.AT_END:
                following = items[position + 1 :]
                if any(not (o is c.AT and a is c.AT_END) for o, a in following):
                    raise RegexError("'$' followed by more of the pattern")
            out.append(self.item(op, av))
        return "".join(out)

    def item(self, op: Any, av: Any) -> str:
        flavor = self.flavor
        if op is c.LITERAL:
            return self.char(av)
        if op is c.NOT_LITERAL:
            return f"[^{self.char(av, in_class=True)}]"
        if op is c.ANY:
            if self.dotall:
                return "." if flavor == "postgres" else "(?s:.)"
            return "[^\\n]"
        if op is c.IN:
            if len(av) == 1 and av[0][0] is c.CATEGORY:
                return self.category(av[0][1], in_class=False)
            return self.in_class(av)
        if op is c.CATEGORY:
            return self.category(av, in_class=False)
        if op is c.BRANCH:
            _, branches = av
            return "(?:" + "|".join(self.sequence(list(b)) for b in branches) + ")"
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise RegexError("a flag scoped to a group, such as (?i:…)")
            inner = list(sub)
            if len(inner) == 1 and inner[0][0] is c.BRANCH:
                return self.item(*inner[0])  # already a group
            return "(?:" + self.sequence(inner) + ")"
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            return self.repeat(op, av)
        if op is c.AT:
            return self.at(av)
        if op is c.ATOMIC_GROUP:
            if flavor != "java":
                raise RegexError("an atomic group (?>…)")
            return "(?>" + self.sequence(list(av)) + ")"
        if op in (c.ASSERT, c.ASSERT_NOT):
            if flavor == "re2":
                raise RegexError("a lookahead or lookbehind (RE2 has none)")
            direction, sub = av
            sign = "=" if op is c.ASSERT else "!"
            behind = "<" if direction < 0 else ""
            return f"(?{behind}{sign}" + self.sequence(list(sub)) + ")"
        if op in (c.GROUPREF, c.GROUPREF_EXISTS):
            raise RegexError("a backreference")
        raise RegexError(f"the construct {op}")

    def repeat(self, op: Any, av: Any) -> str:
        low, high, sub = av
        limit = _REPEAT_LIMIT[self.flavor]
        if low > limit or (high != c.MAXREPEAT and high > limit):
            raise RegexError(f"a repetition count above {limit}")
        inner = self.sequence(list(sub))
        atom = inner if _is_atom(list(sub)) else f"(?:{inner})"
        if high == c.MAXREPEAT:
            quantifier = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
        elif low == 0 and high == 1:
            quantifier = "?"
        elif low == high:
            quantifier = f"{{{low}}}"
        else:
            quantifier = f"{{{low},{high}}}"
        if op is c.MIN_REPEAT:
            quantifier += "?"
        elif op is c.POSSESSIVE_REPEAT:
            if self.flavor != "java":
                raise RegexError("a possessive quantifier")
            quantifier += "+"
        return atom + quantifier

    def at(self, where: Any) -> str:
        postgres = self.flavor == "postgres"
        end = "\\Z" if postgres else "\\z"
        if where in (c.AT_BEGINNING, c.AT_BEGINNING_STRING):
            return "\\A"
        if where is c.AT_END:  # the end, or just before a newline that ends the text
            return f"(?:\\n?{end})"
        if where is c.AT_END_STRING:
            return end
        if where is c.AT_BOUNDARY:
            return "\\y" if postgres else "\\b"
        if where is c.AT_NON_BOUNDARY:
            return "\\Y" if postgres else "\\B"
        raise RegexError(f"the anchor {where}")  # pragma: no cover


def _is_atom(items: list[tuple[Any, Any]]) -> bool:
    """Whether a quantifier can follow the written form directly."""
    if len(items) != 1:
        return False
    op, _ = items[0]
    return op in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.IN, c.CATEGORY, c.SUBPATTERN, c.BRANCH)
