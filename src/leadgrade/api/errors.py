"""Error bodies: every invalid field by its JSON path (``$.events[2].occurred_at``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError


def json_path(loc: Sequence[int | str]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def problems(errors: Sequence[Any], skip: int = 0) -> list[dict[str, str]]:
    out = []
    for error in errors:
        loc = [
            p
            for p in error["loc"][skip:]
            if p not in ("function-after[_names_a_person(), EventBody]",)
        ]
        message = str(error["msg"]).removeprefix("Value error, ")
        out.append({"path": json_path(loc), "message": message})
    return out


def invalid(errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"detail": errors}, status_code=422)


def from_validation(exc: ValidationError) -> JSONResponse:
    return invalid(problems(exc.errors(include_url=False)))


async def request_validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI prefixes "body", "query" or "path"; keep that as the root of the path.
    errors = []
    for error in exc.errors():
        where, *rest = error["loc"]
        errors.append({"path": f"{where}:" + json_path(rest), "message": str(error["msg"])})
    return invalid(errors)
