"""Execution environments as the runner sees them: the worker template of a code directory, and the
processes it forks (see `local_stack.worker` for their side). An environment is watched through a pidfd
(it is the template's child, not ours): alive, resident memory, SIGKILL."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from local_stack.worker import FD_VARIABLE, error_payload

log = logging.getLogger(__name__)

HOST_VARIABLES = ("PATH", "LANG", "LC_ALL")
"""The only variables of this process an environment (or the template) gets."""
_STOP_SECONDS = 10.0
_WATCH_SECONDS = 0.1
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def readable(fd: int, timeout: float) -> bool:
    """True once `fd` is readable (a pidfd: its process has exited) within `timeout` seconds. `poll`, not
    `select`: a stack holding a file per object body on disk numbers its descriptors past select's 1,024."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


class Template:
    """The worker template of one code directory: a `local_stack.worker` process that has imported the
    handlers' libraries and forks an execution environment per `spawn`."""

    def __init__(self, code_dir: Path, handlers: Iterable[str], log_file: IO[Any] | None):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {key: os.environ[key] for key in HOST_VARIABLES if key in os.environ}
        env.update({"PYTHONPATH": str(code_dir), "PYTHONUNBUFFERED": "1", "LAMBDA_TASK_ROOT": str(code_dir)})
        env[FD_VARIABLE] = str(theirs.fileno())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_stack.worker", str(code_dir), *sorted(set(handlers))],
            env=env,
            cwd=str(code_dir),
            stdin=subprocess.DEVNULL,
            stdout=log_file if log_file is not None else None,
            stderr=subprocess.STDOUT if log_file is not None else None,
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self._control = ours
        self._lock = threading.Lock()

    def spawn(self, environment: Mapping[str, str], cwd: Path, timeout: float) -> Worker:
        """Fork an execution environment with exactly `environment`; `OSError` if the template fails."""
        ours, theirs = socket.socketpair()
        request = json.dumps({"env": dict(environment), "cwd": str(cwd)}).encode("utf-8")
        try:
            with self._lock:
                self._control.settimeout(timeout)
                socket.send_fds(self._control, [request], [theirs.fileno()])
                message, fds, _, _ = socket.recv_fds(self._control, 4096, 1)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        if not message or not fds:
            ours.close()
            raise OSError("the worker template closed its socket")
        return Worker(int(json.loads(message)["pid"]), fds[0], Connection(ours.detach()))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._control.close()
        self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=_STOP_SECONDS)


class Worker:
    """One execution environment: a process forked by a `Template`, watched through its pidfd."""

    def __init__(self, pid: int, pidfd: int, connection: Connection):
        self.pid = pid
        self._pidfd = pidfd
        try:
            self._statm = os.open(f"/proc/{pid}/statm", os.O_RDONLY)  # re-read with pread: no open per look
        except OSError:
            self._statm = -1
        self._connection = connection
        self._lock = threading.Lock()
        self._closed = False
        self.init_seconds = 0.0
        self.init_cpu_seconds = 0.0

    def rss_mb(self) -> float:
        """Resident memory now (`/proc/PID/statm`), 0 once gone."""
        try:
            return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE_BYTES / 2**20
        except (OSError, IndexError, ValueError):
            return 0.0

    def wait_ready(self, timeout: float, memory_mb: int) -> dict[str, Any] | str:
        """The worker's ready message or error document, or why there is none (as `call`)."""
        document = self._receive(timeout, memory_mb)
        if isinstance(document, dict):
            self.init_cpu_seconds = float(document.get("init_cpu_seconds", 0.0))
        return document

    def call(self, request: Mapping[str, Any], timeout: float, memory_mb: int) -> dict[str, Any] | str:
        """Send one request; its reply, or why there is none: "timeout", "exited" or "memory" (the
        process's RSS went over `memory_mb`, checked every `_WATCH_SECONDS`)."""
        try:
            self._connection.send_bytes(json.dumps(request).encode("utf-8"))
        except OSError:
            return "exited"
        return self._receive(timeout, memory_mb)

    def _receive(self, timeout: float, memory_mb: int = 0) -> dict[str, Any] | str:
        deadline = time.monotonic() + timeout
        try:
            while not self._connection.poll(max(0.0, min(_WATCH_SECONDS, deadline - time.monotonic()))):
                if memory_mb and self.rss_mb() > memory_mb:
                    return "memory"
                if time.monotonic() >= deadline:
                    return "timeout"
            message: dict[str, Any] = json.loads(self._connection.recv_bytes())
            return message
        except (EOFError, OSError):
            return "exited"

    def terminate(self) -> None:
        """SIGKILL the process (as Lambda does at a timeout); a thread reading its reply gets EOF."""
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            if not readable(self._pidfd, _STOP_SECONDS):
                log.warning("worker did not exit", extra={"pid": self.pid})

    def kill(self) -> None:
        """Terminate and close the connection and pidfd, once. Only the thread using the worker (or, for
        an idle worker, the pool) may call it."""
        self.terminate()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._pidfd)
            if self._statm >= 0:
                os.close(self._statm)
                self._statm = -1
        with contextlib.suppress(OSError):
            self._connection.close()


def failure_payload(reason: str, request_id: str, timeout: float) -> str:
    """Lambda's error document for an environment that gave no answer ("timeout", "memory", "exited")."""
    if reason == "timeout":
        return error_payload("Sandbox.Timedout", f"{request_id} Task timed out after {timeout:.2f} seconds")
    if reason == "memory":
        message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
        return error_payload("Runtime.OutOfMemory", message)
    message = f"RequestId: {request_id} Error: Runtime exited without a response"
    return error_payload("Runtime.ExitError", message)
