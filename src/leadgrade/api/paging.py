"""Keyset pagination: a cursor names the last item a page showed (its sort key), so the
next page starts after it even when leads were added or removed in between, which an
offset cannot promise."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Query

T = TypeVar("T")


def _bad(message: str) -> HTTPException:
    return HTTPException(422, [{"path": "query:$.cursor", "message": message}])


def encode_cursor(sort: str, key: tuple[Any, ...]) -> str:
    text = json.dumps({"sort": sort, "after": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = data["after"]
        made_for = data["sort"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _bad("not a cursor this API gave out") from None
    if made_for != sort:
        raise _bad(f"the cursor belongs to sort={made_for}; keep the query of the first page")
    if not isinstance(after, list):
        raise _bad("not a cursor this API gave out")
    return tuple(after)


def keyset_page(
    items: Sequence[T],
    key: Callable[[T], tuple[Any, ...]],
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """The page of ``items`` (sorted by ``key``) after ``cursor``, and the next cursor
    (None on the last page)."""
    start = 0
    if cursor:
        after = decode_cursor(cursor, sort)
        try:
            start = bisect.bisect_right([key(item) for item in items], after)
        except TypeError:
            raise _bad("not a cursor this API gave out") from None
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    return page, encode_cursor(sort, key(page[-1])) if more and page else None


# The query parameters every list shares.
GradeQuery = Annotated[str | None, Query(pattern=r"^[A-D][1-4]$", description="A1 … D4")]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="items a page")]
CursorQuery = Annotated[
    str | None, Query(description="the `next` of the previous page, with the same query")
]
