"""Serving the Starlette app with uvicorn, with connection-level limits uvicorn lacks.

`GuardedProtocol` (uvicorn's h11 protocol) adds: a deadline for each request counted from the
connection (or the end of the previous response) until its head is in, and handed to the app for the
body (`DEADLINE_KEY`), so a slow or stalled client gets 408 within it; the same time limit for a
response the client stops reading (the connection is aborted, its buffer freed); a cap on open
connections (429 + Retry-After beyond it); ProblemDetails bodies for malformed requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator
from http import HTTPStatus
from types import FrameType
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ocr_service.config import ServiceSettings
from ocr_service.http_io import DEADLINE_KEY, problem_body

logger = logging.getLogger("ocr_service")

BACKLOG = 2048
MAX_HEADER_BYTES = 16 * 1024


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with a whole-request deadline and a connection cap (class settings)."""

    request_timeout: float = 30.0
    max_connections: int = 256

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = 0.0
        self._deadline_handle: asyncio.TimerHandle | None = None
        self._stall_handle: asyncio.TimerHandle | None = None
        self._received = False
        if len(self.connections) > self.max_connections:
            self._reject(429, "too many open connections; retry later", "Retry-After: 1\r\n")
            return
        self._arm()

    def _arm(self) -> None:
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
        self._deadline = self.loop.time() + self.request_timeout
        self._received = False
        self._deadline_handle = self.loop.call_at(self._deadline, self._on_deadline)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._received = True
        previous = self.cycle
        super().data_received(data)
        if self.cycle is not None and self.cycle is not previous:
            self.cycle.scope.setdefault("state", {})[DEADLINE_KEY] = self._deadline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in (getattr(self, "_deadline_handle", None), getattr(self, "_stall_handle", None)):
            if handle is not None:
                handle.cancel()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_handle is None:
            self._stall_handle = self.loop.call_later(self.request_timeout, self._on_write_stall)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None

    def _on_write_stall(self) -> None:
        """The client read nothing of the response for a whole request timeout: drop it."""
        self._stall_handle = None
        logger.info("connection aborted: response not read", extra={"client": str(self.client)})
        self.transport.abort()

    def _on_deadline(self) -> None:
        self._deadline_handle = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:
            if self._received:
                detail = f"request headers not received within the deadline of {self.request_timeout:g} s"
                self._reject(408, detail)
            else:
                self.transport.close()
        elif self.conn.our_state is h11.DONE:
            self.transport.close()
        # Otherwise the application is reading the body under the same deadline and answers 408.

    def send_400_response(self, msg: str) -> None:
        self._reject(400, f"malformed HTTP request: {msg}")

    def _reject(self, status: int, detail: str, extra_headers: str = "") -> None:
        body = problem_body(status, detail)
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n{extra_headers}\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def guarded_protocol(settings: ServiceSettings) -> type[GuardedProtocol]:
    """A `GuardedProtocol` subclass carrying these settings' deadline and connection cap."""
    return type(
        "ConfiguredGuardedProtocol",
        (GuardedProtocol,),
        {"request_timeout": settings.request_timeout_seconds, "max_connections": settings.max_connections},
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; OSError (busy port, bad address) propagates to the caller."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class OcrServer(uvicorn.Server):
    """uvicorn's server logging one `ready` line once it accepts requests; stops on SIGTERM/SIGINT."""

    def __init__(self, config: uvicorn.Config, url: str, details: dict[str, Any]) -> None:
        super().__init__(config)
        self.url = url
        self.details = details

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            logger.info(f"ocr-service ready at {self.url}", extra={"url": self.url, **self.details})

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            logger.info("stopping", extra={"signal": signal.Signals(signum).name})
            self.handle_exit(signum, frame)

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def make_server(app: Any, settings: ServiceSettings, url: str, details: dict[str, Any]) -> OcrServer:
    """The uvicorn server for `app` with this service's connection limits."""
    config = uvicorn.Config(
        app,
        http=guarded_protocol(settings),
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        backlog=BACKLOG,
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        timeout_graceful_shutdown=5,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    return OcrServer(config, url, details)
