"""HTTP client of the Aspose.OCR Cloud v5 API (or any server speaking its wire format).

One ``requests.Session`` per client. GET/DELETE are retried by urllib3 on 429/5xx and connection errors,
with backoff and a capped ``Retry-After``; POST is sent once (a 5xx on POST may have created a task),
and its throttling surfaces as :class:`OcrApiThrottled` for the workflow's own retry. Every request has
a (connect, read) timeout. The OAuth2 token is cached with its expiry, refreshed ``token_refresh_margin``
seconds early, and once more on a 401/403.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util.retry import Retry

from ocr_pipeline.adapters.secrets import ClientCredentials
from ocr_pipeline.domain.ports import OcrResponse, OcrResult, TaskStatus
from ocr_pipeline.errors import (
    OcrApiAuthError,
    OcrApiProtocolError,
    OcrApiRejected,
    OcrApiReplyLost,
    OcrApiThrottled,
    OcrApiTimeout,
    OcrApiUnavailable,
    OcrTaskFailed,
    OcrTaskNotFound,
)

API_PREFIX: Final = "/v5.0/ocr"
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,99}$")
_CHUNK = 64 * 1024


class BoundedRetry(Retry):
    """urllib3 ``Retry`` that honours ``Retry-After`` but never sleeps longer than ``MAX_RETRY_AFTER``."""

    MAX_RETRY_AFTER: float = 5.0

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), self.MAX_RETRY_AFTER)


def default_retry() -> Retry:
    """Bounded retries for idempotent requests: at most 3 more tries, 0.5 s → 4 s backoff with jitter."""
    return BoundedRetry(
        total=3,
        connect=2,
        read=2,
        status=3,
        backoff_factor=0.5,
        backoff_max=4.0,
        backoff_jitter=0.25,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "DELETE"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float


class AsposeOcrClient:
    """Typed access to ``BinarizeImage``, ``RecognizeImage`` and ``GetTaskStatus``.

    Raises :class:`OcrApiThrottled` (429), :class:`OcrApiUnavailable` (5xx, connection failure),
    :class:`OcrApiTimeout`, :class:`OcrApiAuthError` (401/403 after one token refresh, or a rejected token
    request), :class:`OcrApiRejected` (other 4xx) and :class:`OcrApiProtocolError` (malformed answers).
    """

    def __init__(
        self,
        base_url: str,
        credentials: Callable[[], ClientCredentials],
        *,
        session: requests.Session | None = None,
        retry: Retry | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        token_refresh_margin: float = 60.0,
        max_response_bytes: int = 200 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._credentials = credentials
        self._session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=retry if retry is not None else default_retry())
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._timeout = (connect_timeout, read_timeout)
        self._margin = token_refresh_margin
        self._max_response_bytes = max_response_bytes
        self._clock = clock
        self._token: _Token | None = None

    def submit_binarization(self, image: bytes) -> str:
        """POST ``BinarizeImage``; return the task id."""
        return self.submit_image("BinarizeImage", image)

    def submit_image(self, operation: str, image: bytes) -> str:
        """POST an image-only operation (Binarize/Deskew/UpscaleImage); return the task id."""
        return self._submit(operation, {"image": _b64(image)})

    def submit_recognition(self, image: bytes, *, language: str, make_binarization: bool) -> str:
        """POST ``RecognizeImage`` asking for plain text; return the task id."""
        settings = {
            "language": language,
            "makeSkewCorrect": True,
            "makeBinarization": make_binarization,
            "makeSpellCheck": False,
            "makeContrastCorrection": False,
            "makeUpsampling": False,
            "dsrMode": "Regions",
            "dsrConfidence": "Default",
            "resultType": "Text",
        }
        return self._submit("RecognizeImage", {"image": _b64(image), "settings": settings})

    def task_status(self, task_id: str) -> OcrResponse:
        """``GetTaskStatus``: state only, no results."""
        return self._get_response("Utilities/GetTaskStatus", task_id)

    def result(self, operation: str, task_id: str) -> OcrResponse:
        """GET ``operation`` for ``task_id``: the full ``OCRResponse`` with results."""
        return self._get_response(operation, task_id)

    def binarization_result(self, task_id: str) -> bytes:
        """The PNG of a completed ``BinarizeImage`` task."""
        return _completed_payload(self.result("BinarizeImage", task_id), ("ImagePNG", "PNG"))

    def recognition_result(self, task_id: str) -> str:
        """The text of a completed ``RecognizeImage`` task, decoded as UTF-8."""
        data = _completed_payload(self.result("RecognizeImage", task_id), ("Text",))
        return data.decode("utf-8", errors="replace")

    def _submit(self, operation: str, body: dict[str, Any]) -> str:
        response = self._call(
            "POST", f"{API_PREFIX}/{operation}", json=body, headers={"Accept": "text/plain"}, submission=True
        )
        task_id = response.decode("utf-8", errors="replace").strip().strip('"').strip()
        if not _TASK_ID.match(task_id):
            raise OcrApiProtocolError(f"POST {operation} did not return a task id: {task_id[:80]!r}")
        return task_id

    def _get_response(self, operation: str, task_id: str) -> OcrResponse:
        body = self._call(
            "GET", f"{API_PREFIX}/{operation}", params={"id": task_id}, headers={"Accept": "application/json"}
        )
        return parse_ocr_response(body, task_id=task_id)

    def _bearer(self, *, force: bool) -> str:
        now = self._clock()
        if force or self._token is None or now >= self._token.expires_at - self._margin:
            self._token = self._fetch_token(now)
        return self._token.value

    def _fetch_token(self, now: float) -> _Token:
        creds = self._credentials()
        data = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        }
        response = self._send("POST", "/connect/token", data=data, headers={"Accept": "application/json"})
        if response.status_code in (400, 401, 403):
            raise OcrApiAuthError(f"token request rejected with HTTP {response.status_code}")
        body = self._checked_body(response, "POST /connect/token")
        try:
            payload = json.loads(body)
            value = str(payload["access_token"])
            expires_in = float(payload.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise OcrApiProtocolError("token response is not JSON with access_token") from exc
        if not value:
            raise OcrApiProtocolError("token response has an empty access_token")
        return _Token(value, now + expires_in)

    def _call(
        self, method: str, path: str, *, headers: dict[str, str], submission: bool = False, **kwargs: Any
    ) -> bytes:
        response = self._send(
            method,
            path,
            headers={**headers, "Authorization": f"Bearer {self._bearer(force=False)}"},
            submission=submission,
            **kwargs,
        )
        if response.status_code in (401, 403):
            response.close()
            token = self._bearer(force=True)
            response = self._send(
                method,
                path,
                headers={**headers, "Authorization": f"Bearer {token}"},
                submission=submission,
                **kwargs,
            )
            if response.status_code in (401, 403):
                raise OcrApiAuthError(
                    f"{method} {path} rejected with HTTP {response.status_code} after token refresh"
                )
        return self._checked_body(response, f"{method} {path}", submission=submission)

    def _send(self, method: str, path: str, *, submission: bool = False, **kwargs: Any) -> requests.Response:
        """Send one request. For a submission, an answer lost after the request may have reached the
        server (read timeout, connection dropped mid-way) is :class:`OcrApiReplyLost`; a request that
        provably never arrived (connect timeout, connection refused) is retryable as usual."""
        what = f"{method} {path}"
        try:
            return self._session.request(
                method, f"{self._base}{path}", timeout=self._timeout, stream=True, **kwargs
            )
        except requests.ConnectTimeout as exc:
            raise OcrApiTimeout(f"{what} could not connect within {self._timeout[0]} s") from exc
        except requests.Timeout as exc:
            if submission:
                raise OcrApiReplyLost(f"{what} sent, no answer within {self._timeout[1]} s") from exc
            raise OcrApiTimeout(f"{what} timed out after {self._timeout} s (connect, read)") from exc
        except requests.exceptions.RetryError as exc:
            raise OcrApiUnavailable(f"{what} failed after retries: {exc}") from exc
        except requests.ConnectionError as exc:
            if submission and not _never_connected(exc):
                raise OcrApiReplyLost(f"{what} sent, connection lost before the answer: {exc}") from exc
            raise OcrApiUnavailable(f"{what} could not connect: {exc}") from exc

    def _checked_body(self, response: requests.Response, what: str, *, submission: bool = False) -> bytes:
        status = response.status_code
        if status == 429:
            raise OcrApiThrottled(
                f"{what} throttled (HTTP 429, Retry-After={response.headers.get('Retry-After')})"
            )
        if status >= 500:
            raise OcrApiUnavailable(f"{what} failed with HTTP {status}")
        if status >= 400:
            raise OcrApiRejected(f"{what} rejected with HTTP {status}: {response.text[:300]}")
        try:
            return _read_bounded(response.iter_content(_CHUNK), self._max_response_bytes, what)
        except requests.Timeout as exc:
            if submission:
                raise OcrApiReplyLost(f"{what} timed out while reading the answer") from exc
            raise OcrApiTimeout(f"{what} timed out while reading the body") from exc
        except requests.ConnectionError as exc:
            if submission:
                raise OcrApiReplyLost(f"{what} lost the connection while reading the answer") from exc
            raise OcrApiUnavailable(f"{what} lost the connection while reading the body") from exc
        finally:
            response.close()


def _never_connected(exc: requests.ConnectionError) -> bool:
    """Whether a connection error happened before the request was sent (refused, DNS, connect failure)."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    return isinstance(reason, NewConnectionError)


def _read_bounded(chunks: Iterable[bytes], limit: int, what: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise OcrApiProtocolError(f"{what} answered with more than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_ocr_response(body: bytes, *, task_id: str) -> OcrResponse:
    """Parse an ``OCRResponse`` JSON body; results' ``data`` is base64-decoded."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise OcrApiProtocolError(f"OCRResponse for {task_id} is not JSON") from exc
    if not isinstance(payload, dict):
        raise OcrApiProtocolError(f"OCRResponse for {task_id} is not a JSON object")
    try:
        status = TaskStatus(str(payload.get("taskStatus")))
    except ValueError as exc:
        raise OcrApiProtocolError(f"unknown taskStatus {payload.get('taskStatus')!r} for {task_id}") from exc
    results: list[OcrResult] = []
    for item in payload.get("results") or []:
        if not isinstance(item, dict) or item.get("data") is None:
            continue
        try:
            data = base64.b64decode(str(item["data"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise OcrApiProtocolError(f"result data of {task_id} is not base64") from exc
        results.append(OcrResult(type=str(item.get("type") or ""), data=data))
    raw_error = payload.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    return OcrResponse(
        task_id=str(payload.get("id") or task_id),
        task_status=status,
        response_status_code=payload.get("responseStatusCode"),
        results=tuple(results),
        messages=tuple(str(m) for m in (error.get("messages") or [])),
        warnings=tuple(str(w) for w in (error.get("warnings") or [])),
    )


def _completed_payload(response: OcrResponse, types: tuple[str, ...]) -> bytes:
    if response.task_status is TaskStatus.NOT_EXIST:
        raise OcrTaskNotFound(f"task {response.task_id} does not exist (unknown id or expired result)")
    if response.task_status is TaskStatus.ERROR:
        raise OcrTaskFailed(f"task {response.task_id} failed: {'; '.join(response.messages) or 'no message'}")
    if response.task_status is not TaskStatus.COMPLETED:
        raise OcrApiProtocolError(f"task {response.task_id} is {response.task_status}, expected Completed")
    wanted = {t.lower() for t in types}
    for result in response.results:
        if result.type.lower() in wanted:
            return result.data
    if len(response.results) == 1:
        return response.results[0].data
    raise OcrApiProtocolError(f"task {response.task_id} has no result of type {'/'.join(types)}")
