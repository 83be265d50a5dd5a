"""Errors that name their fault with a stable code, so that a client words them in its reader's
language (the console translates `code` with `params`; `detail` stays the English wording)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse


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


async def coded_problem(_request: Request, problem: Exception) -> JSONResponse:
    """The exception handler for CodedProblem."""
    assert isinstance(problem, CodedProblem)
    body: dict[str, Any] = {"detail": problem.detail}
    if problem.code:
        body["code"], body["params"] = problem.code, problem.params
    return JSONResponse(body, status_code=problem.status_code, headers=problem.headers)
