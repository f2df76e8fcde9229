"""Raw-socket HTTP helpers for the hostile-input tests: every call has a deadline."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


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
