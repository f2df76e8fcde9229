"""HTTP front end speaking the Aspose.OCR Cloud v5 wire format (a Starlette app, served by uvicorn).

Routes (case-insensitive): `GET /`, `POST /connect/token`, `POST|GET|DELETE /v5.0/ocr/<Operation>`,
`GET /v5.0/ocr/Utilities/GetTaskStatus`, and with `--admin` (admin secret required)
`GET|PUT /_admin/faults`, `GET /_admin/stats`. Every answer other than a success is a ProblemDetails
JSON body (the token route keeps OAuth2's `{"error": ...}` for credential errors).
"""

from __future__ import annotations

import base64
import hmac
import logging
import threading
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

import anyio.to_thread
from starlette.applications import Starlette
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ocr_service.auth import TokenIssuer, parse_basic
from ocr_service.config import FaultSettings, ServiceSettings, SettingsError
from ocr_service.engines.recognize import TesseractRecognizer
from ocr_service.faults import FaultInjector
from ocr_service.http_io import (
    RETRY_AFTER_SECONDS,
    Exchange,
    HeldResponse,
    HttpProblem,
    InflightBudget,
    json_response,
    problem,
)
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
_SERVED = ("GET", "POST", "PUT", "DELETE")
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
T = TypeVar("T")


class OcrService:
    """Settings, task store, token issuer, faults and request counters of one server process."""

    def __init__(self, settings: ServiceSettings, runners: list[Runner]) -> None:
        self.settings = settings
        self.runners = runners
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
        self.inflight = InflightBudget(settings.max_inflight_bytes, lambda: self.count("rejected 429"))

    def count(self, key: str) -> None:
        with self.stats_lock:
            self.stats[key] += 1


async def _in_thread(function: Callable[[], T]) -> T:
    """CPU-bound parsing off the event loop, so slow requests never delay others."""
    return await anyio.to_thread.run_sync(function)


class Api:
    """The routes; `app` is the Starlette application."""

    def __init__(self, service: OcrService) -> None:
        self.service = service
        self.app = Starlette(routes=[Route("/{path:path}", self.endpoint, methods=_ANY_METHOD)])

    async def endpoint(self, request: Request) -> Response:
        exchange = Exchange(request, self.service.inflight, self.service.settings.request_timeout_seconds)
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

    async def _handle(self, ex: Exchange) -> Response:
        method, path = ex.method, ex.path
        if method not in _SERVED:
            raise HttpProblem(501, f"Unsupported method ({method!r})", close=True)
        if path == "/" and method == "GET":
            self.service.count("GET /")
            return json_response(200, {"status": "ready", "service": "ocr-service", "api": "v5.0"})
        if path == "/connect/token" and method == "POST":
            self.service.count("POST token")
            return await self._token(ex)
        if path.startswith("/_admin/") and self.service.settings.admin:
            return await self._admin(ex)
        if path.startswith("/v5.0/ocr/"):
            return await self._api(ex, path.removeprefix("/v5.0/ocr/"))
        return problem(404, f"no route for {method} {ex.raw_path}")

    async def _form(self, ex: Exchange, body: bytes) -> dict[str, str]:
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

    async def _token(self, ex: Exchange) -> Response:
        form = await self._form(ex, await ex.body(_MAX_FORM_BYTES))
        basic = parse_basic(ex.request.headers.get("authorization"))
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        grant = form.get("grant_type", "client_credentials")
        if grant != "client_credentials":
            return json_response(
                400, {"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r}"}
            )
        if not self.service.tokens.check_client(client_id, secret):
            return json_response(
                401,
                {"error": "invalid_client", "error_description": "unknown client id or wrong client secret"},
                {"WWW-Authenticate": 'Basic realm="ocr-service"'},
            )
        issued = self.service.tokens.issue()
        return json_response(
            200,
            {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in},
            {"Cache-Control": "no-store"},
        )

    def _check_bearer(self, ex: Exchange) -> None:
        header = ex.request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and self.service.tokens.verify(token.strip()):
            return
        detail = "missing bearer token" if not header else "invalid or expired bearer token"
        challenge = 'Bearer error="invalid_token"' if header else "Bearer"
        raise HttpProblem(401, detail, {"WWW-Authenticate": challenge})

    async def _api(self, ex: Exchange, route: str) -> Response:
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
            return problem(fault, "injected fault", {"Retry-After": str(RETRY_AFTER_SECONDS)})
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
    def _task_id(ex: Exchange) -> str:
        value = ex.query.get("id")
        if value is None:
            raise HttpProblem(400, "query parameter 'id' is required")
        return value.strip()[:100]

    async def _submit(self, ex: Exchange, operation: str) -> Response:
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
            return problem(429, "task queue is full; retry later", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        return Response(task_id.encode(), 200, media_type="text/plain; charset=utf-8")

    def _respond_task(self, ex: Exchange, operation: str | None, *, with_results: bool) -> Response:
        view = self.service.store.get(self._task_id(ex), operation)
        if not with_results or not view.results:
            return json_response(200, ocr_response(view, with_results=with_results))
        ex.reserve(sum(len(r.data) for r in view.results) * 4 // 3 + 1024, "response")
        response = json_response(200, ocr_response(view, with_results=True))
        held, ex.reserved = ex.reserved, 0

        return HeldResponse(response, lambda: self.service.inflight.give_back(held))

    def _check_admin(self, ex: Exchange) -> None:
        secret = (self.service.settings.admin_secret or "").encode()
        scheme, _, given = ex.request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), secret
        ):
            return
        raise HttpProblem(
            401, "admin routes need the admin secret as bearer token", {"WWW-Authenticate": "Bearer"}
        )

    async def _admin(self, ex: Exchange) -> Response:
        self._check_admin(ex)
        path, method, service = ex.path, ex.method, self.service
        if path == "/_admin/faults" and method == "GET":
            return json_response(200, vars(service.faults.settings))
        if path == "/_admin/faults" and method == "PUT":
            raw = await ex.body(_MAX_FORM_BYTES)
            try:
                data = load_json_object(raw or b"{}", service.request_limits)
                settings = FaultSettings.from_mapping(data, service.faults.settings)
            except (SettingsError, TypeError) as exc:
                return problem(400, str(exc))
            service.faults.update(settings)
            logger.info("faults updated", extra={"faults": vars(settings)})
            return json_response(200, vars(settings))
        if path == "/_admin/stats" and method == "GET":
            with service.stats_lock:
                requests = dict(service.stats)
            replaced = sum(int(getattr(runner, "replaced", 0)) for runner in service.runners)
            workers = {"count": len(service.runners), "replaced": replaced}
            body = {
                "requests": requests,
                "tasks": service.store.counts(),
                "in_flight": service.store.in_flight(),
                "results": {"bytes": service.store.result_bytes()},
                "workers": workers,
            }
            return json_response(200, body)
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
