"""Engine worker processes: one job at a time each, killed and replaced when a job overruns.

A `WorkerSlot` owns one child process (started with `spawn`, so no lock or thread of the HTTP
process is inherited) that keeps one Tesseract instance warm and runs the operations through
`ocr_service.operations.prepare`. The parent sends a picklable `WorkItem` and waits at most the
task's remaining time; past it the child is killed (SIGKILL) and a fresh one started.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from ocr_service.operations import Limits
from ocr_service.tasks import Result, TaskFailedError, TaskTimeoutError

logger = logging.getLogger("ocr_service.workers")

_CONTEXT = multiprocessing.get_context("spawn")
_READY = "ready"


class WorkerStartError(RuntimeError):
    """A worker process did not become ready in time."""


@dataclass(frozen=True)
class WorkItem:
    """What a worker needs to run one task: the operation and its validated, lower-cased body."""

    operation: str
    body: dict[str, Any]
    limits: Limits


def configure_engine_process() -> None:
    """One engine thread per worker process: the pool, not OpenCV's threads, spreads work on cores."""
    import cv2

    cv2.setNumThreads(1)


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """Child process main loop: build the engine once, then answer one WorkItem at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_engine_process()
    from ocr_service.engines.recognize import TesseractRecognizer
    from ocr_service.operations import prepare
    from ocr_service.requests_model import BadRequestError

    engine = TesseractRecognizer()
    conn.send(_READY)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        try:
            outcome: tuple[str, Any] = ("ok", prepare(item.operation, item.body, item.limits, engine)())
        except (TaskFailedError, BadRequestError) as exc:
            outcome = ("failed", str(exc))
        except Exception as exc:
            outcome = ("crashed", f"internal error while processing the image: {type(exc).__name__}")
        conn.send(outcome)


class WorkerSlot:
    """One worker process and the pipe to it. Not thread-safe: one caller thread per slot."""

    def __init__(self, index: int, start_timeout: float = 60.0) -> None:
        self.index = index
        self._start_timeout = start_timeout
        self._conn: multiprocessing.connection.Connection | None = None
        self._process: Any = None
        self.replaced = 0
        self.closed = False

    def start(self) -> None:
        """Start the child process (returns at once; `wait_ready` waits for it)."""
        parent, child = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_serve, args=(child,), name=f"ocr-worker-{self.index}", daemon=True)
        process.start()
        child.close()
        self._conn, self._process = parent, process

    def wait_ready(self, deadline: float) -> None:
        """Block until the child reports ready; raises WorkerStartError past `deadline` (monotonic)."""
        conn = self._conn
        assert conn is not None
        remaining = max(0.0, deadline - time.monotonic())
        try:
            if conn.poll(remaining) and conn.recv() == _READY:
                return
        except (EOFError, OSError):
            pass
        self.kill()
        raise WorkerStartError(f"worker {self.index} did not start within {self._start_timeout:g} s")

    def run(self, item: WorkItem, timeout: float) -> list[Result]:
        """Run one item; raises TaskFailedError (the job's own failure) or TaskTimeoutError."""
        if self.closed:
            raise TaskFailedError("the service is stopping")
        if self._conn is None:
            self._restart()
        conn = self._conn
        assert conn is not None
        try:
            conn.send(item)
            ready = conn.poll(max(0.0, timeout))
            outcome = conn.recv() if ready else None
        except (EOFError, OSError) as exc:
            logger.error("worker died", extra={"worker": self.index, "error": repr(exc)})
            self._restart()
            raise TaskFailedError("internal error: the worker process ended unexpectedly") from exc
        if outcome is None:
            logger.warning("task over its time limit: worker killed", extra={"worker": self.index})
            self._restart()
            raise TaskTimeoutError
        kind, value = outcome
        if kind == "ok":
            results: list[Result] = value
            return results
        raise TaskFailedError(str(value))

    def _restart(self) -> None:
        self.kill()
        if self.closed:
            return
        self.replaced += 1
        self.start()
        self.wait_ready(time.monotonic() + self._start_timeout)

    def kill(self) -> None:
        """Kill the child at once (SIGKILL) and reap it. Idempotent."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None and process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
        if process is not None:
            process.join(timeout=5.0)

    def stop(self) -> None:
        """Stop for good: kill the child (a job in progress is abandoned) and start no other."""
        self.closed = True
        self.kill()


def start_slots(count: int, start_timeout: float = 60.0) -> list[WorkerSlot]:
    """Start `count` worker processes in parallel and wait until all are ready."""
    slots = [WorkerSlot(index, start_timeout) for index in range(count)]
    for slot in slots:
        slot.start()
    deadline = time.monotonic() + start_timeout
    try:
        for slot in slots:
            slot.wait_ready(deadline)
    except WorkerStartError:
        for slot in slots:
            slot.kill()
        raise
    return slots
