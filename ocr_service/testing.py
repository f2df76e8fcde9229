"""Launch the real `ocr-service` as a subprocess, for tests and the local stack.

Public API (stable)::

    from ocr_service.testing import start_service

    with start_service(workers=2, retention=1.0, admin=True) as svc:
        svc.base_url          # "http://127.0.0.1:<port>"
        svc.client_id         # credentials the server accepts
        svc.client_secret
        svc.token()           # a fresh bearer access token (str)
        svc.set_faults(delay_seconds=2, error_rate=0.0, rate_429=0.0, rate_5xx=0.0, lost_rate=0.0, seed=1)
        svc.faults()          # current fault settings (dict)
        svc.stats()           # {"requests": {"POST BinarizeImage": n, ...}, "tasks": {...}}
        svc.admin_headers()   # {"Authorization": "Bearer <admin secret>"} for /_admin/* calls
    # leaving the block (or svc.stop()) sends SIGTERM and waits for exit

`start_service(**options)`: each keyword becomes a CLI flag (`queue_size=1` -> `--queue-size 1`;
`True` -> bare flag; `False`/`None` omitted); `admin` defaults to True so faults and stats work, with
a random admin secret handed over in `OCR_ADMIN_SECRET` (or `admin_secret=...`). Extra keywords:
`startup_timeout` (s, default 30), `env` (extra environment). The server binds 127.0.0.1 on a free
port; the helper waits (bounded) for the ready line and for `GET /` 200. Raises ServiceStartError.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests

from ocr_service.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

_TIMEOUT = (3.05, 30.0)


class ServiceStartError(RuntimeError):
    """The service did not become ready before the deadline (the log tail is in the message)."""


def _command() -> list[str]:
    script = Path(sys.executable).with_name("ocr-service")
    if script.exists():
        return [str(script)]
    found = shutil.which("ocr-service")
    return [found] if found else [sys.executable, "-m", "ocr_service"]


class RunningService:
    """A started `ocr-service` subprocess; see the module docstring."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        log: IO[bytes],
        base_url: str,
        client_id: str,
        secret: str,
        admin_secret: str | None = None,
    ):
        self.process = process
        self._log = log
        self.base_url = base_url
        self.client_id = client_id
        self.client_secret = secret
        self.admin_secret = admin_secret

    def admin_headers(self) -> dict[str, str]:
        """The Authorization header the `/_admin/*` routes require."""
        return {"Authorization": f"Bearer {self.admin_secret}"} if self.admin_secret else {}

    def __enter__(self) -> RunningService:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_text(self) -> str:
        """Everything the service logged so far (JSON lines)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def token(self) -> str:
        """A new bearer token from `POST /connect/token` (form-urlencoded)."""
        response = requests.post(
            f"{self.base_url}/connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            timeout=_TIMEOUT,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def set_faults(self, **faults: float | int | None) -> dict[str, Any]:
        """Update fault injection at runtime (keys as in `FaultSettings`); returns the new settings."""
        response = requests.put(
            f"{self.base_url}/_admin/faults", json=faults, headers=self.admin_headers(), timeout=_TIMEOUT
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def faults(self) -> dict[str, Any]:
        response = requests.get(
            f"{self.base_url}/_admin/faults", headers=self.admin_headers(), timeout=_TIMEOUT
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stats(self) -> dict[str, Any]:
        """Request counters per route (`"POST BinarizeImage"`, `"GET GetTaskStatus"`, ...) and task counts."""
        response = requests.get(
            f"{self.base_url}/_admin/stats", headers=self.admin_headers(), timeout=_TIMEOUT
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit status. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self._log.close()
        return self.process.returncode


def _flags(options: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    return args


def _ready_url(log: IO[bytes]) -> str | None:
    log.flush()
    log.seek(0)
    for line in log.read().decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            return str(entry["url"])
    return None


def start_service(
    *, startup_timeout: float = 30.0, env: dict[str, str] | None = None, **options: Any
) -> RunningService:
    """Start `ocr-service --host 127.0.0.1 --port 0 [flags]` and wait until `GET /` answers 200."""
    options = {"admin": True, **options, "host": "127.0.0.1", "port": 0}
    client_id = str(options.get("client_id", DEFAULT_CLIENT_ID))
    secret = str(options.get("client_secret", DEFAULT_CLIENT_SECRET))
    options.setdefault("client_id", client_id)
    options.setdefault("client_secret", secret)
    child_env = {**os.environ, **(env or {})}
    admin_secret = options.pop("admin_secret", None)
    if options.get("admin"):
        admin_secret = str(admin_secret or child_env.get("OCR_ADMIN_SECRET") or secrets.token_urlsafe(24))
        child_env["OCR_ADMIN_SECRET"] = admin_secret
    log = tempfile.TemporaryFile()  # noqa: SIM115 - owned by RunningService, closed in stop()
    process = subprocess.Popen([*_command(), *_flags(options)], stdout=log, stderr=log, env=child_env)
    service = RunningService(process, log, "", client_id, secret, admin_secret)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        url = _ready_url(log)
        if url:
            try:
                if requests.get(url + "/", timeout=(1.0, 2.0)).status_code == 200:
                    service.base_url = url
                    return service
            except requests.RequestException:
                pass
        time.sleep(0.05)
    text = service.log_text()
    service.stop()
    raise ServiceStartError(f"ocr-service not ready within {startup_timeout} s; log tail:\n{text[-2000:]}")
