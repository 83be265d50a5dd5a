"""Errors that name their fault with a stable code, so that a client words them in its reader's
language (the console translates `code` with `params`; `detail` stays the English wording).
Every error the API answers carries a code: its own, "invalid" for request validation (with each
field's pydantic error type), or `http_<status>`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException


class CodedProblem(HTTPException):
    """An HTTP error answered as `{"detail", "code", "params"}`.

    Example:
        >>> CodedProblem(409, "cannot close an event that is handling", "action_state",
        ...              {"action": "close", "state": "handling"}).code
        'action_state'
    """

    def __init__(
        self,
        status_code: int,
        detail: str,
        code: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(status_code, detail=detail, headers=headers)
        self.code = code
        self.params = params or {}


# Validation error types whose context the console words (pydantic's `ctx`): only plain values
# travel; an exception object in the context stays out of the answer.
_PLAIN = (str, int, float, bool)


def field_errors(errors: Sequence[Any], *, skip: int = 1) -> list[dict[str, Any]]:
    """Pydantic's errors as `{"field", "type", "params"}`: the field path after the first `skip`
    parts (FastAPI's "body", "query", ...), pydantic's error type (which the console words, see
    https://docs.pydantic.dev/latest/errors/validation_errors/, or one of our validators' own
    codes, raised as `PydanticCustomError`) and its plain context values."""
    worded = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        context = error.get("ctx") or {}
        # A model's own validator names the field it is about in its context (contract.camera).
        named = context.get("field") if isinstance(context.get("field"), str) else None
        if named:
            location = [*location, *named.split(".")]
        worded.append(
            {
                "field": ".".join(location[skip:]) or ".".join(location),
                "type": str(error.get("type", "value_error")),
                "params": {k: v for k, v in context.items() if isinstance(v, _PLAIN)},
            }
        )
    return worded


class InvalidFields(CodedProblem):
    """A 422 naming each invalid field with pydantic's error type, worded by the console.

    Example:
        >>> InvalidFields("suppress.margin: must be >= 0", "suppress.margin", "greater_than_equal",
        ...               {"ge": 0}).params["errors"][0]["type"]
        'greater_than_equal'
    """

    def __init__(self, detail: str, field: str, kind: str, params: dict[str, Any] | None = None):
        error = {"field": field, "type": kind, "params": params or {}}
        super().__init__(422, detail, "invalid", {"errors": [error]})


async def invalid_request(_request: Request, error: Exception) -> JSONResponse:
    """FastAPI's request-validation error, worded by code: `detail` as FastAPI gives it (a list
    of `{loc, msg, type}`), `code` "invalid" and `params.errors` each field's path and type."""
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    body = {
        "detail": jsonable_encoder(errors),
        "code": "invalid",
        "params": {"errors": field_errors(errors)},
    }
    return JSONResponse(body, status_code=422)


async def http_problem(_request: Request, problem: Exception) -> Response:
    """Every HTTP error answered with a code: a CodedProblem's own, else `http_<status>` (a route
    Starlette does not know, a method it does not allow), so that a client always has words."""
    assert isinstance(problem, StarletteHTTPException)
    code = problem.code if isinstance(problem, CodedProblem) else f"http_{problem.status_code}"
    params = problem.params if isinstance(problem, CodedProblem) else {}
    headers = getattr(problem, "headers", None)
    if problem.status_code in (204, 304):
        return Response(status_code=problem.status_code, headers=headers)
    body: dict[str, Any] = {"detail": problem.detail, "code": code, "params": params}
    return JSONResponse(body, status_code=problem.status_code, headers=headers)
