"""Request and response plumbing of the HTTP API: ProblemDetails answers, body reading within the
request deadline and size limits, and the in-flight byte budget shared by bodies and result responses.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

JSON_TYPE = "application/json; charset=utf-8"
RETRY_AFTER_SECONDS = 1
MAX_DRAIN_BYTES = 64 * 1024
"""Unread bodies up to this size are drained for keep-alive; larger ones close the connection."""
DEADLINE_KEY = "ocr_request_deadline"
"""Key of `scope["state"]`: loop time by which the whole request (headers and body) must be in."""


class InflightBudget:
    """Bytes of request bodies being received and result responses being sent, against a cap."""

    def __init__(self, limit: int, on_reject: Callable[[], None]) -> None:
        self.limit = limit
        self.used = 0
        self._on_reject = on_reject
        self._lock = threading.Lock()

    def take(self, length: int) -> bool:
        with self._lock:
            if self.used + length > self.limit:
                self._on_reject()
                return False
            self.used += length
            return True

    def give_back(self, length: int) -> None:
        with self._lock:
            self.used -= length


class HttpProblem(Exception):
    """An answer to send as ProblemDetails; `close` ends the connection after it."""

    def __init__(
        self, status: int, detail: str, headers: dict[str, str] | None = None, *, close: bool = False
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.close = status, detail, headers or {}, close


def problem_body(status: int, detail: str) -> bytes:
    """ProblemDetails JSON (`type,title,status,detail`)."""
    body = {
        "type": f"https://httpstatuses.io/{status}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return json.dumps(body).encode()


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """ProblemDetails served as `application/json`: the official SDKs deserialize only
    `application/json` and `text/plain` and cannot read `application/problem+json`."""
    return Response(problem_body(status, detail), status, headers, JSON_TYPE)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload).encode(), status, headers, JSON_TYPE)


class HeldResponse(Response):
    """A response whose body bytes stay counted in the in-flight budget until it is sent."""

    def __init__(self, response: Response, release: Callable[[], None]) -> None:
        super().__init__(response.body, response.status_code, media_type=response.media_type)
        self.raw_headers = response.raw_headers
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


class Exchange:
    """One request being answered: reads its body within the limits and the request deadline."""

    def __init__(self, request: Request, budget: InflightBudget, request_timeout: float) -> None:
        self.request = request
        self.budget = budget
        self.request_timeout = request_timeout
        self.method = request.method
        self.body_consumed = False
        self.reserved = 0
        path = request.url.path
        self.raw_path = path
        self.path = path.rstrip("/").lower() or "/"
        self.query: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            self.query.setdefault(key.lower(), value)

    async def body(self, limit: int) -> bytes:
        """The whole body; HttpProblem 411/400/413, 408 past the deadline, 400 on early EOF."""
        self.body_consumed = True
        headers = self.request.headers
        if headers.get("transfer-encoding"):
            raise HttpProblem(411, "chunked bodies are not supported; send Content-Length", close=True)
        try:
            length = int(headers.get("content-length") or "0")
        except ValueError:
            raise HttpProblem(400, "invalid Content-Length", close=True) from None
        if length < 0 or length > limit:
            raise HttpProblem(413, f"request body is larger than the limit of {limit} bytes", close=True)
        self.reserve(length, "request")
        loop = asyncio.get_running_loop()
        timeout = self.request_timeout
        deadline = self.request.scope.get("state", {}).get(DEADLINE_KEY) or loop.time() + timeout
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in self.request.stream():
                    chunks.append(chunk)
        except TimeoutError:
            raise HttpProblem(
                408, f"request not received within the deadline of {timeout:g} s", close=True
            ) from None
        except ClientDisconnect:
            raise HttpProblem(400, "connection closed before the body was complete", close=True) from None
        body = b"".join(chunks)
        if len(body) != length:
            raise HttpProblem(400, "body length does not match Content-Length", close=True)
        return body

    def reserve(self, length: int, what: str) -> None:
        """Count `length` bytes against the in-flight budget; HttpProblem 429 when it is spent."""
        if not self.budget.take(length):
            raise HttpProblem(
                429,
                f"too many {what} bytes in flight at once; retry later",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
                close=what == "request",
            )
        self.reserved += length

    def release(self) -> None:
        """Give back the body bytes reserved by `body` (once the request is answered)."""
        self.budget.give_back(self.reserved)
        self.reserved = 0

    def must_close(self) -> bool:
        """True when a body this route did not read is too large to drain for keep-alive."""
        if self.body_consumed:
            return False
        headers = self.request.headers
        if headers.get("transfer-encoding"):
            return True
        try:
            return int(headers.get("content-length") or "0") > MAX_DRAIN_BYTES
        except ValueError:
            return True
