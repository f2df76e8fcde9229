"""`ocr-service` start errors (one line on stderr, exit status 2, no traceback) and clean stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ocr_service.testing import start_service


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("ocr-service")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ocr_service"]
    return subprocess.run(
        [*command, "--host", "127.0.0.1", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _assert_one_line_usage_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr


def test_busy_port_exits_2_with_one_line() -> None:
    # GIVEN a port another socket listens on
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        # WHEN the service is started on it THEN one line and exit status 2
        result = _run("--port", str(busy.getsockname()[1]))
    _assert_one_line_usage_error(result, "cannot listen")


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--workers", "0"], {}, "workers"),
        (["--max-regions", "many"], {}, "max-regions"),
        (["--admin", "--port", "0"], {"OCR_ADMIN_SECRET": ""}, "admin secret"),
        (["--port", "0"], {"OCR_MAX_JSON_DEPTH": "deep"}, "OCR_MAX_JSON_DEPTH"),
        (["--request-timeout", "-1"], {}, "request timeout"),
    ],
    ids=["workers", "not-a-number", "admin-without-secret", "bad-env", "negative-timeout"],
)
def test_bad_settings_exit_2_with_one_line(args: list[str], env: dict[str, str], fragment: str) -> None:
    _assert_one_line_usage_error(_run(*args, env=env), fragment)


def test_sigterm_stops_workers_and_exits_0() -> None:
    # GIVEN a running service with two worker processes
    svc = start_service(workers=2)
    tasks = Path(f"/proc/{svc.process.pid}/task").glob("*/children")
    children = [int(pid) for task in tasks for pid in task.read_text().split()]
    workers = [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    # WHEN it gets SIGTERM THEN it exits 0 and leaves no worker process behind
    status = svc.stop(timeout=15.0)
    assert len(workers) == 2 and status == 0
    assert not [pid for pid in workers if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
