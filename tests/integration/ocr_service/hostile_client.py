"""Helpers of the hostile-client tests: raw-socket HTTP with deadlines, a `GET /` probe, images.

Every call has a deadline.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
from PIL import Image

ROOT_DEADLINE_S = 2.0
REQUEST_TIMEOUT_S = 3.0
"""The services' request deadline in the hostile tests (headers + body)."""
MARGIN_S = 2.0


@dataclass(frozen=True)
class RawResponse:
    """A response read off a socket; `status` 0 means the server closed without answering."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return str(parts.hostname), int(parts.port or 80)


def connect(base_url: str, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(address(base_url), timeout=timeout)


def read_response(sock: socket.socket, deadline_s: float) -> RawResponse:
    """Read one response (status line, headers, Content-Length body) or EOF, within `deadline_s`."""
    started = time.monotonic()
    deadline = started + deadline_s
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock, deadline)
        if not chunk:
            return RawResponse(0, {}, data, time.monotonic() - started)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = _recv(sock, deadline)
        if not chunk:
            break
        body += chunk
    return RawResponse(status, headers, body[:length], time.monotonic() - started)


def _recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete response before the deadline")
    sock.settimeout(remaining)
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def exchange(base_url: str, raw: bytes, deadline_s: float = 10.0) -> RawResponse:
    """Send `raw` bytes on a new connection and read the answer within `deadline_s`."""
    with connect(base_url) as sock:
        sock.sendall(raw)
        return read_response(sock, deadline_s)


def request_bytes(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def page_png_b64(width: int, height: int, noise: bool = False) -> str:
    if noise:
        image = np.random.default_rng(1).integers(0, 256, (height, width), dtype=np.uint8)
    else:
        image = np.full((height, width), 255, np.uint8)
        image[height // 4 : height // 2, width // 8 : width // 2] = 0
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class RootProbe:
    """Polls `GET /` in a thread; records every answer (status, seconds) or failure."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.samples: list[tuple[int, float]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RootProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            started = time.monotonic()
            try:
                status = requests.get(
                    self.base_url + "/", timeout=(ROOT_DEADLINE_S, ROOT_DEADLINE_S)
                ).status_code
                self.samples.append((status, time.monotonic() - started))
            except requests.RequestException as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body
