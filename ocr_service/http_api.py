"""HTTP front end speaking the Aspose.OCR Cloud v5 wire format (a Starlette app, served by uvicorn).

Routes (case-insensitive): `GET /`, `POST /connect/token`, `POST|GET|DELETE /v5.0/ocr/<Operation>`,
`GET /v5.0/ocr/Utilities/GetTaskStatus`, and with `--admin` (admin secret required)
`GET|PUT /_admin/faults`, `GET /_admin/stats`. Every answer other than a success is a ProblemDetails
JSON body (the token route keeps OAuth2's `{"error": ...}` for credential errors).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import threading
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from http import HTTPStatus
from typing import Any, TypeVar

import anyio.to_thread
from starlette.applications import Starlette
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ocr_service.auth import TokenIssuer, parse_basic
from ocr_service.config import FaultSettings, ServiceSettings, SettingsError
from ocr_service.engines.recognize import TesseractRecognizer
from ocr_service.faults import FaultInjector
from ocr_service.limits import RequestLimits, check_work, load_json_object, parse_form
from ocr_service.operations import OPERATIONS, Limits, prepare
from ocr_service.requests_model import BadRequestError
from ocr_service.tasks import COMPLETED, ERROR, NOT_EXIST, QueueFullError, Runner, TaskStore, TaskView
from ocr_service.workers import WorkItem

logger = logging.getLogger("ocr_service.http")

_CODES = {
    "Pending": "NotReady",
    "Processing": "NotReady",
    COMPLETED: "Ok",
    ERROR: "Error",
    NOT_EXIST: "TaskNotFound",
}
_OPS = {op.lower(): op for op in OPERATIONS}
_MAX_FORM_BYTES = 64 * 1024
_MAX_DRAIN_BYTES = 64 * 1024
_JSON = "application/json; charset=utf-8"
_RETRY_AFTER_SECONDS = 1
_SERVED = ("GET", "POST", "PUT", "DELETE")
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
DEADLINE_KEY = "ocr_request_deadline"
"""Key of `scope["state"]`: loop time by which the whole request (headers and body) must be in."""
T = TypeVar("T")


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
    return Response(problem_body(status, detail), status, headers, _JSON)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload).encode(), status, headers, _JSON)


class _HeldResponse(Response):
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


class OcrService:
    """Settings, task store, token issuer, faults and request counters of one server process."""

    def __init__(self, settings: ServiceSettings, runners: list[Runner]) -> None:
        self.settings = settings
        self.faults = FaultInjector(settings.faults)
        self.tokens = TokenIssuer(settings.client_id, settings.client_secret, settings.token_ttl_seconds)
        self.limits = Limits(max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
        self.validator = TesseractRecognizer()
        """Only handed to `prepare` for validation: its jobs run in the worker processes."""
        self.request_limits = RequestLimits(
            max_json_depth=settings.max_json_depth,
            max_number_digits=settings.max_number_digits,
            max_form_fields=settings.max_form_fields,
            max_regions=settings.max_regions,
            max_work_pixels=settings.max_work_pixels,
            max_bytes=settings.max_bytes,
            max_pixels=settings.max_pixels,
        )
        self.store = TaskStore(
            runners=runners,
            queue_size=settings.queue_size,
            retention_seconds=settings.retention_seconds,
            max_tasks=settings.max_tasks,
            task_timeout_seconds=settings.task_timeout_seconds,
            faults=self.faults,
            max_result_bytes=settings.max_result_bytes,
        )
        self.stats: Counter[str] = Counter()
        self.stats_lock = threading.Lock()
        self.inflight_bytes = 0
        """Request bodies being received plus result responses being sent (event loop only)."""

    def count(self, key: str) -> None:
        with self.stats_lock:
            self.stats[key] += 1


class _Exchange:
    """One request being answered: reads its body within the limits and the request deadline."""

    def __init__(self, service: OcrService, request: Request) -> None:
        self.service = service
        self.request = request
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
        timeout = self.service.settings.request_timeout_seconds
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
        service = self.service
        if service.inflight_bytes + length > service.settings.max_inflight_bytes:
            service.count("rejected 429")
            raise HttpProblem(
                429,
                f"too many {what} bytes in flight at once; retry later",
                {"Retry-After": str(_RETRY_AFTER_SECONDS)},
                close=what == "request",
            )
        service.inflight_bytes += length
        self.reserved += length

    def release(self) -> None:
        """Give back the body bytes reserved by `body` (once the request is answered)."""
        self.service.inflight_bytes -= self.reserved
        self.reserved = 0

    def must_close(self) -> bool:
        """True when a body this route did not read is too large to drain for keep-alive."""
        if self.body_consumed:
            return False
        headers = self.request.headers
        if headers.get("transfer-encoding"):
            return True
        try:
            return int(headers.get("content-length") or "0") > _MAX_DRAIN_BYTES
        except ValueError:
            return True


async def _in_thread(function: Callable[[], T]) -> T:
    """CPU-bound parsing off the event loop, so slow requests never delay others."""
    return await anyio.to_thread.run_sync(function)


class Api:
    """The routes; `app` is the Starlette application."""

    def __init__(self, service: OcrService) -> None:
        self.service = service
        self.app = Starlette(routes=[Route("/{path:path}", self.endpoint, methods=_ANY_METHOD)])

    async def endpoint(self, request: Request) -> Response:
        exchange = _Exchange(self.service, request)
        try:
            response = await self._handle(exchange)
            close = exchange.must_close()
        except HttpProblem as exc:
            response, close = problem(exc.status, exc.detail, exc.headers), exc.close
        except BadRequestError as exc:
            response, close = problem(exc.status, exc.detail), exchange.must_close()
        except Exception:
            logger.exception("unhandled error", extra={"path": exchange.path})
            response, close = problem(500, "internal error"), True
        finally:
            exchange.release()
        if close:
            response.headers["Connection"] = "close"
        return response

    async def _handle(self, ex: _Exchange) -> Response:
        method, path = ex.method, ex.path
        if method not in _SERVED:
            raise HttpProblem(501, f"Unsupported method ({method!r})", close=True)
        if path == "/" and method == "GET":
            self.service.count("GET /")
            return _json(200, {"status": "ready", "service": "ocr-service", "api": "v5.0"})
        if path == "/connect/token" and method == "POST":
            self.service.count("POST token")
            return await self._token(ex)
        if path.startswith("/_admin/") and self.service.settings.admin:
            return await self._admin(ex)
        if path.startswith("/v5.0/ocr/"):
            return await self._api(ex, path.removeprefix("/v5.0/ocr/"))
        return problem(404, f"no route for {method} {ex.raw_path}")

    async def _form(self, ex: _Exchange, body: bytes) -> dict[str, str]:
        limits = self.service.request_limits
        content_type = ex.request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            return parse_form(body, limits)

        async def stream() -> AsyncGenerator[bytes, None]:
            yield body

        parser = MultiPartParser(ex.request.headers, stream(), max_files=0, max_fields=limits.max_form_fields)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise HttpProblem(400, f"invalid multipart form: {exc.message}") from exc
        return {key: value for key, value in form.multi_items() if isinstance(value, str)}

    async def _token(self, ex: _Exchange) -> Response:
        form = await self._form(ex, await ex.body(_MAX_FORM_BYTES))
        basic = parse_basic(ex.request.headers.get("authorization"))
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        grant = form.get("grant_type", "client_credentials")
        if grant != "client_credentials":
            return _json(
                400, {"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r}"}
            )
        if not self.service.tokens.check_client(client_id, secret):
            return _json(
                401,
                {"error": "invalid_client", "error_description": "unknown client id or wrong client secret"},
                {"WWW-Authenticate": 'Basic realm="ocr-service"'},
            )
        issued = self.service.tokens.issue()
        return _json(
            200,
            {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in},
            {"Cache-Control": "no-store"},
        )

    def _check_bearer(self, ex: _Exchange) -> None:
        header = ex.request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and self.service.tokens.verify(token.strip()):
            return
        detail = "missing bearer token" if not header else "invalid or expired bearer token"
        challenge = 'Bearer error="invalid_token"' if header else "Bearer"
        raise HttpProblem(401, detail, {"WWW-Authenticate": challenge})

    async def _api(self, ex: _Exchange, route: str) -> Response:
        method = ex.method
        status_route = route == "utilities/gettaskstatus"
        operation = _OPS.get(route)
        if operation is None and not status_route:
            return problem(404, f"unknown operation /v5.0/ocr/{route}; supported: {', '.join(OPERATIONS)}")
        name = "GetTaskStatus" if status_route else str(operation)
        self.service.count(f"{method} {name}")
        self._check_bearer(ex)
        fault = self.service.faults.request_fault()
        if fault is not None:
            self.service.count(f"fault {fault}")
            if method == "POST":
                await ex.body(self.service.settings.max_body_bytes)
            return problem(fault, "injected fault", {"Retry-After": str(_RETRY_AFTER_SECONDS)})
        if status_route and method == "GET":
            return self._respond_task(ex, None, with_results=False)
        if operation is None or method not in ("POST", "GET", "DELETE"):
            return problem(405, f"method {method} not allowed here")
        if method == "POST":
            return await self._submit(ex, operation)
        task_id = self._task_id(ex)
        if method == "DELETE":
            self.service.store.cancel(task_id)
            return Response(b"", 200)
        return self._respond_task(ex, operation, with_results=True)

    @staticmethod
    def _task_id(ex: _Exchange) -> str:
        value = ex.query.get("id")
        if value is None:
            raise HttpProblem(400, "query parameter 'id' is required")
        return value.strip()[:100]

    async def _submit(self, ex: _Exchange, operation: str) -> Response:
        raw = await ex.body(self.service.settings.max_body_bytes)
        service = self.service

        def validate() -> WorkItem:
            body = load_json_object(raw, service.request_limits)
            prepare(operation, body, service.limits, service.validator)
            check_work(operation, body, service.request_limits)
            return WorkItem(operation=operation, body=body, limits=service.limits)

        item = await _in_thread(validate)
        try:
            task_id = service.store.submit(operation, item)
        except QueueFullError:
            service.count("rejected 429")
            return problem(429, "task queue is full; retry later", {"Retry-After": str(_RETRY_AFTER_SECONDS)})
        return Response(task_id.encode(), 200, media_type="text/plain; charset=utf-8")

    def _respond_task(self, ex: _Exchange, operation: str | None, *, with_results: bool) -> Response:
        view = self.service.store.get(self._task_id(ex), operation)
        if not with_results or not view.results:
            return _json(200, ocr_response(view, with_results=with_results))
        ex.reserve(sum(len(r.data) for r in view.results) * 4 // 3 + 1024, "response")
        response = _json(200, ocr_response(view, with_results=True))
        held, ex.reserved = ex.reserved, 0

        def release() -> None:
            self.service.inflight_bytes -= held

        return _HeldResponse(response, release)

    def _check_admin(self, ex: _Exchange) -> None:
        secret = (self.service.settings.admin_secret or "").encode()
        scheme, _, given = ex.request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), secret
        ):
            return
        raise HttpProblem(
            401, "admin routes need the admin secret as bearer token", {"WWW-Authenticate": "Bearer"}
        )

    async def _admin(self, ex: _Exchange) -> Response:
        self._check_admin(ex)
        path, method, service = ex.path, ex.method, self.service
        if path == "/_admin/faults" and method == "GET":
            return _json(200, vars(service.faults.settings))
        if path == "/_admin/faults" and method == "PUT":
            raw = await ex.body(_MAX_FORM_BYTES)
            try:
                data = load_json_object(raw or b"{}", service.request_limits)
                settings = FaultSettings.from_mapping(data, service.faults.settings)
            except (SettingsError, TypeError) as exc:
                return problem(400, str(exc))
            service.faults.update(settings)
            logger.info("faults updated", extra={"faults": vars(settings)})
            return _json(200, vars(settings))
        if path == "/_admin/stats" and method == "GET":
            with service.stats_lock:
                requests = dict(service.stats)
            return _json(200, {"requests": requests, "tasks": service.store.counts()})
        return problem(404, f"no admin route for {method} {path}")


def ocr_response(view: TaskView, *, with_results: bool) -> dict[str, Any]:
    """Aspose `OCRResponse` JSON for a task snapshot."""
    results = None
    if with_results and view.status == COMPLETED and view.results is not None:
        results = [{"type": r.type, "data": base64.b64encode(r.data).decode("ascii")} for r in view.results]
    error = {"messages": view.messages, "warnings": []} if view.status == ERROR else None
    return {
        "id": view.id,
        "taskStatus": view.status,
        "responseStatusCode": _CODES[view.status],
        "results": results,
        "error": error,
    }
