"""The worker's one way to the API: base URL, token, worker name, timeouts and our own errors.

Everything a worker asks of the API (camera leases, health reports, custom-model weights,
incident delivery) goes through `ApiClient`, so every request carries the bearer token and the
`X-GridWatch-Worker` header, and an HTTP or transport failure reaches the worker's loops as an
`ApiError`, never as an httpx exception.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import httpx

WORKER_HEADER = "X-GridWatch-Worker"


@cache
def _tls_context() -> ssl.SSLContext:
    """The certificate authorities httpx would load, loaded once per process: loading them
    costs tens of milliseconds of CPU, and a worker opens a client for each of its loops (a
    fleet simulated in one process, hundreds)."""
    return httpx.create_ssl_context()


class ApiError(Exception):
    """A request to the API did not succeed. The worker keeps what it has and asks again on its
    next round (leases, health) or after a backoff (incidents, which wait in the outbox)."""


class ApiUnreachable(ApiError):
    """No answer: the connection failed, timed out or broke off mid-answer."""

    @classmethod
    def of(cls, method: str, path: str, err: httpx.HTTPError) -> ApiUnreachable:
        return cls(f"{method} {path}: API unreachable ({type(err).__name__})")


class ApiRefused(ApiError):
    """The API answered with an error status.

    Attributes:
        status_code: The HTTP status, e.g. 404 or 503.
        detail: The API's reason (its problem `detail`, or the start of the body), at most
            200 characters.
    """

    def __init__(self, method: str, path: str, status_code: int, detail: str):
        super().__init__(f"{method} {path}: API answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail

    @property
    def api_unavailable(self) -> bool:
        """True when no request would pass now: the API fails (5xx), refuses this worker's token
        (401, 403) or asks it to slow down (429)."""
        return self.status_code >= 500 or self.status_code in (401, 403, 429)


class ApiClient:
    """One worker's HTTP client for the API.

    Args:
        api_url: The API's base URL, e.g. ``http://127.0.0.1:8000``.
        token: The worker token (sent as ``Authorization: Bearer``); never logged.
        worker_name: This worker's name for the API's audit trail and leases.
        timeout: Seconds to wait for each request, connecting and reading alike.
        client: An httpx client to send through (tests, benches counting requests); closed by
            `close()` like the one made otherwise.

    Example:
        >>> api = ApiClient("http://127.0.0.1:8000/", "secret", worker_name="edge-1", timeout=5)
        >>> api.url("/api/v1/worker/leases")
        'http://127.0.0.1:8000/api/v1/worker/leases'
        >>> sorted(api.headers)
        ['Authorization', 'X-GridWatch-Worker']
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        worker_name: str,
        timeout: float,
        client: httpx.Client | None = None,
    ):
        self.base_url = api_url.rstrip("/")
        self.worker_name = worker_name
        self.headers = {"Authorization": f"Bearer {token}", WORKER_HEADER: worker_name}
        self._client = client or httpx.Client(timeout=timeout, verify=_tls_context())

    def url(self, path: str) -> str:
        """The absolute URL of an API path; an absolute URL the API handed out is kept as is."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **options: Any
    ) -> httpx.Response:
        """Send one request; the API's successful (2xx) answer.

        `headers` are sent besides the token and worker name; `options` are httpx's (``json``,
        ``content``, ``data``, ``files``, ``params``).

        Raises:
            ApiUnreachable: No answer came.
            ApiRefused: The API answered with another status (a redirect, too, is not followed).
        """
        try:
            response = self._client.request(
                method, self.url(path), headers={**self.headers, **(headers or {})}, **options
            )
        except httpx.HTTPError as err:
            raise ApiUnreachable.of(method, path, err) from err
        self._check(method, path, response)
        return response

    def call(self, method: str, path: str, **options: Any) -> Any:
        """Send one request and return its JSON answer (None for an empty one).

        Raises:
            ApiUnreachable: No answer came.
            ApiRefused: The API answered with a status other than 2xx.
            ApiError: The answer is not JSON (something other than the API answered).
        """
        response = self.request(method, path, **options)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as err:
            raise ApiError(f"{method} {path}: the answer is not JSON") from err

    @contextmanager
    def stream(self, method: str, path: str) -> Iterator[httpx.Response]:
        """A successful answer whose body is read as it arrives (``iter_bytes()``).

        Raises:
            ApiUnreachable: No answer came, or it broke off while being read.
            ApiRefused: The API answered with a status other than 2xx.
        """
        try:
            with self._client.stream(method, self.url(path), headers=self.headers) as response:
                if not response.is_success:
                    response.read()  # the problem's detail
                self._check(method, path, response)
                yield response
        except httpx.HTTPError as err:
            raise ApiUnreachable.of(method, path, err) from err

    @staticmethod
    def _check(method: str, path: str, response: httpx.Response) -> None:
        if not response.is_success:
            raise ApiRefused(method, path, response.status_code, problem_detail(response))

    def close(self) -> None:
        self._client.close()


def problem_detail(response: httpx.Response) -> str:
    """The API's reason for an answer: its problem `detail`, or the start of the body."""
    try:
        return str(response.json().get("detail", ""))[:200]
    except (ValueError, AttributeError):
        return response.text[:200]
