"""HTTP front end speaking the Aspose.OCR Cloud v5 wire format (stdlib `http.server`).

Routes (case-insensitive): `GET /`, `POST /connect/token`, `POST|GET|DELETE /v5.0/ocr/<Operation>`,
`GET /v5.0/ocr/Utilities/GetTaskStatus`, and with `--admin` `GET|PUT /_admin/faults`, `GET /_admin/stats`.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import logging
import threading
import urllib.parse
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ocr_service.auth import TokenIssuer, parse_basic
from ocr_service.config import FaultSettings, ServiceSettings, SettingsError
from ocr_service.engines.recognize import TesseractRecognizer
from ocr_service.faults import FaultInjector
from ocr_service.operations import OPERATIONS, Limits, prepare
from ocr_service.requests_model import BadRequestError, parse_json_body
from ocr_service.tasks import COMPLETED, ERROR, NOT_EXIST, QueueFullError, TaskStore, TaskView

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
_DRAIN_CHUNK = 64 * 1024
_JSON = "application/json; charset=utf-8"
_RETRY_AFTER_SECONDS = 1


class OcrServer(ThreadingHTTPServer):
    """The server object: holds settings, task store, token issuer, faults and request counters."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.faults = FaultInjector(settings.faults)
        self.tokens = TokenIssuer(settings.client_id, settings.client_secret, settings.token_ttl_seconds)
        self.engine = TesseractRecognizer()
        self.limits = Limits(max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
        self.store = TaskStore(
            workers=settings.workers,
            queue_size=settings.queue_size,
            retention_seconds=settings.retention_seconds,
            max_tasks=settings.max_tasks,
            task_timeout_seconds=settings.task_timeout_seconds,
            faults=self.faults,
        )
        self.stats: Counter[str] = Counter()
        self.stats_lock = threading.Lock()
        self.connections = threading.BoundedSemaphore(settings.max_connections)
        super().__init__((settings.host, settings.port), Handler)

    def count(self, key: str) -> None:
        with self.stats_lock:
            self.stats[key] += 1

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.acquire(blocking=False):
            try:
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n"
                )
            finally:
                self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


class Handler(BaseHTTPRequestHandler):
    """One request. Every error path answers with a JSON body; nothing escapes as a 500 page."""

    server: OcrServer
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http %s", format % args)

    def _send(
        self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), _JSON, headers)

    def _problem(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        """ProblemDetails JSON. Served as `application/json`: the official SDKs deserialize only
        `application/json` and `text/plain` and cannot read `application/problem+json`."""
        title = HTTPStatus(status).phrase
        body = {
            "type": f"https://httpstatuses.io/{status}",
            "title": title,
            "status": status,
            "detail": detail,
        }
        self._send(status, json.dumps(body).encode(), _JSON, headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (malformed request line, unsupported method) as ProblemDetails too."""
        self.close_connection = True
        self._problem(code, message or explain or HTTPStatus(code).phrase)

    def _read_body(self, limit: int) -> bytes | None:
        self._body_consumed = True
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._problem(411, "chunked bodies are not supported; send Content-Length")
            return None
        try:
            length = int(length_header or "0")
        except ValueError:
            self.close_connection = True
            self._problem(400, "invalid Content-Length")
            return None
        if length < 0 or length > limit:
            self.close_connection = True
            self._problem(413, f"request body is larger than the limit of {limit} bytes")
            return None
        return self.rfile.read(length) if length else b""

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parsed = urllib.parse.urlsplit(self.path)
        return parsed.path.rstrip("/").lower() or "/", urllib.parse.parse_qs(parsed.query)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path, query = self._route()
        self._body_consumed = False
        try:
            self._handle(path, query)
        except Exception:
            logger.exception("unhandled error", extra={"path": path})
            self.close_connection = True
            self._problem(500, "internal error")
        self._discard_unread_body()

    def _discard_unread_body(self) -> None:
        """Drop a request body that the route answered without reading (401, 404, 405, ...).

        Left unread, those bytes would be parsed as the next request on this keep-alive connection
        (HTTP clients such as urllib3 reuse it after a 401). Bodies that cannot be drained within the
        body limit close the connection instead.
        """
        if self._body_consumed or self.close_connection:
            return
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return
        try:
            remaining = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            self.close_connection = True
            return
        if remaining > self.server.settings.max_body_bytes:
            self.close_connection = True
            return
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _DRAIN_CHUNK))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    def _handle(self, path: str, query: dict[str, list[str]]) -> None:
        method = self.command
        if path == "/" and method == "GET":
            self.server.count("GET /")
            return self._json(200, {"status": "ready", "service": "ocr-service", "api": "v5.0"})
        if path == "/connect/token" and method == "POST":
            self.server.count("POST token")
            return self._token()
        if path.startswith("/_admin/") and self.server.settings.admin:
            return self._admin(path, method)
        if path.startswith("/v5.0/ocr/"):
            return self._api(path.removeprefix("/v5.0/ocr/"), method, query)
        self._problem(404, f"no route for {method} {self.path.split('?')[0]}")

    def _token(self) -> None:
        body = self._read_body(_MAX_FORM_BYTES)
        if body is None:
            return
        form = self._form(body)
        basic = parse_basic(self.headers.get("Authorization"))
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        grant = form.get("grant_type", "client_credentials")
        if grant != "client_credentials":
            return self._json(
                400, {"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r}"}
            )
        if not self.server.tokens.check_client(client_id, secret):
            return self._json(
                401,
                {"error": "invalid_client", "error_description": "unknown client id or wrong client secret"},
                {"WWW-Authenticate": 'Basic realm="ocr-service"'},
            )
        issued = self.server.tokens.issue()
        self._json(
            200,
            {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in},
            {"Cache-Control": "no-store"},
        )

    def _form(self, body: bytes) -> dict[str, str]:
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
            )
            fields: dict[str, str] = {}
            if message.is_multipart():
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    payload = part.get_payload(decode=True)
                    if isinstance(name, str) and isinstance(payload, bytes):
                        fields[name] = payload.decode("utf-8", "replace")
            return fields
        pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), max_num_fields=20)
        return dict(pairs)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and self.server.tokens.verify(token.strip()):
            return True
        detail = "missing bearer token" if not header else "invalid or expired bearer token"
        self._problem(
            401, detail, {"WWW-Authenticate": 'Bearer error="invalid_token"' if header else "Bearer"}
        )
        return False

    def _api(self, route: str, method: str, query: dict[str, list[str]]) -> None:
        status_route = route == "utilities/gettaskstatus"
        operation = _OPS.get(route)
        if operation is None and not status_route:
            return self._problem(
                404, f"unknown operation /v5.0/ocr/{route}; supported: {', '.join(OPERATIONS)}"
            )
        name = "GetTaskStatus" if status_route else str(operation)
        self.server.count(f"{method} {name}")
        if not self._authorized():
            return None
        fault = self.server.faults.request_fault()
        if fault is not None:
            self.server.count(f"fault {fault}")
            if method == "POST":
                self._read_body(self.server.settings.max_body_bytes)
            headers = {"Retry-After": str(_RETRY_AFTER_SECONDS)}
            return self._problem(fault, "injected fault", headers)
        if status_route and method == "GET":
            return self._respond_task(self._task_id(query), None, with_results=False)
        if operation is None or method not in ("POST", "GET", "DELETE"):
            return self._problem(405, f"method {method} not allowed here")
        if method == "POST":
            return self._submit(operation)
        task_id = self._task_id(query)
        if task_id is None:
            return self._problem(400, "query parameter 'id' is required")
        if method == "DELETE":
            self.server.store.cancel(task_id)
            return self._send(200, b"", None)
        return self._respond_task(task_id, operation, with_results=True)

    @staticmethod
    def _task_id(query: dict[str, list[str]]) -> str | None:
        values = {k.lower(): v for k, v in query.items()}.get("id")
        return values[0].strip()[:100] if values else None

    def _submit(self, operation: str) -> None:
        raw = self._read_body(self.server.settings.max_body_bytes)
        if raw is None:
            return
        try:
            job = prepare(operation, parse_json_body(raw), self.server.limits, self.server.engine)
            task_id = self.server.store.submit(operation, job)
        except BadRequestError as exc:
            return self._problem(exc.status, exc.detail)
        except QueueFullError:
            self.server.count("rejected 429")
            return self._problem(
                429, "task queue is full; retry later", {"Retry-After": str(_RETRY_AFTER_SECONDS)}
            )
        self._send(200, task_id.encode(), "text/plain; charset=utf-8")

    def _respond_task(self, task_id: str | None, operation: str | None, *, with_results: bool) -> None:
        if task_id is None:
            return self._problem(400, "query parameter 'id' is required")
        view = self.server.store.get(task_id, operation)
        self._json(200, ocr_response(view, with_results=with_results))

    def _admin(self, path: str, method: str) -> None:
        if path == "/_admin/faults" and method == "GET":
            return self._json(200, vars(self.server.faults.settings))
        if path == "/_admin/faults" and method == "PUT":
            raw = self._read_body(_MAX_FORM_BYTES)
            if raw is None:
                return None
            try:
                data = json.loads(raw or b"{}")
                if not isinstance(data, dict):
                    raise SettingsError("body must be a JSON object")
                settings = FaultSettings.from_mapping(data, self.server.faults.settings)
            except (json.JSONDecodeError, UnicodeDecodeError, SettingsError, TypeError) as exc:
                return self._problem(400, str(exc))
            self.server.faults.update(settings)
            logger.info("faults updated", extra={"faults": vars(settings)})
            return self._json(200, vars(settings))
        if path == "/_admin/stats" and method == "GET":
            with self.server.stats_lock:
                requests = dict(self.server.stats)
            return self._json(200, {"requests": requests, "tasks": self.server.store.counts()})
        self._problem(404, f"no admin route for {method} {path}")


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
