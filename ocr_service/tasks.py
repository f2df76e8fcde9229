"""Asynchronous task store: a bounded queue, one dispatcher thread per worker, retention and limits.

States follow Aspose's `OCRTaskStatus`: Pending (queued) -> Processing -> Completed | Error. Unknown,
cancelled, expired or lost tasks are reported as NotExist. A task that exceeds the time limit is
reported as Error at once, and its worker (a process, see `workers.py`) is killed and replaced.
Retained results are capped in bytes: past the cap the oldest finished tasks are forgotten.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ocr_service.faults import FaultInjector

logger = logging.getLogger("ocr_service.tasks")

PENDING, PROCESSING, COMPLETED, ERROR, NOT_EXIST = "Pending", "Processing", "Completed", "Error", "NotExist"


class QueueFullError(Exception):
    """The task queue is full; the client should retry later."""


class TaskFailedError(Exception):
    """A job's own, user-facing failure; its message goes into `error.messages`."""


class TaskTimeoutError(Exception):
    """The job ran past its time limit; its worker was stopped."""


@dataclass(frozen=True)
class Result:
    """One Aspose `OCRResult`: a type name and raw bytes (base64-encoded on the wire)."""

    type: str
    data: bytes


Job = Callable[[], list[Result]]


class Runner(Protocol):
    """Runs one queued item within `timeout` seconds (a worker process, see `workers.WorkerSlot`)."""

    def run(self, item: Any, timeout: float) -> list[Result]: ...


@dataclass
class Task:
    """A submitted job and its state."""

    id: str
    operation: str
    job: Any
    created: float
    status: str = PENDING
    results: list[Result] | None = None
    messages: list[str] = field(default_factory=list)
    started: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    result_bytes: int = 0


@dataclass(frozen=True)
class TaskView:
    """Snapshot of a task for the API (status, results, error messages)."""

    id: str
    status: str
    results: list[Result] | None
    messages: list[str]


class TaskStore:
    """Bounded store feeding `runners`. `start()` launches one thread per runner, `stop()` joins them."""

    def __init__(
        self,
        *,
        runners: Sequence[Runner],
        queue_size: int,
        retention_seconds: float,
        max_tasks: int,
        task_timeout_seconds: float,
        faults: FaultInjector,
        max_result_bytes: int = 1 << 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runners = list(runners)
        self._max_result_bytes = max_result_bytes
        self._result_bytes = 0
        self._queue: queue.Queue[Task | None] = queue.Queue(maxsize=queue_size)
        self._retention = retention_seconds
        self._max_tasks = max_tasks
        self._timeout = task_timeout_seconds
        self._faults = faults
        self._clock = clock
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # Jobs in flight as a client sees them: accepted, and its finished result not yet read.
        self._unread: set[str] = set()
        self._peak_unread = 0

    def start(self) -> None:
        for index, runner in enumerate(self._runners):
            thread = threading.Thread(
                target=self._work, args=(runner,), name=f"ocr-dispatch-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask workers to finish their current task and exit; waits at most `timeout` seconds."""
        with self._lock:
            for task in self._tasks.values():
                task.cancelled.set()
        deadline = self._clock() + timeout
        for _ in self._threads:
            try:
                self._queue.put(None, timeout=max(0.01, deadline - self._clock()))
            except queue.Full:
                break
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - self._clock()))

    def submit(self, operation: str, job: Any) -> str:
        """Queue a work item for the runners; returns the task id. Raises QueueFullError when full."""
        task = Task(id=str(uuid.uuid4()), operation=operation, job=job, created=self._clock())
        with self._lock:
            self._purge_locked()
            try:
                self._queue.put_nowait(task)
            except queue.Full as exc:
                raise QueueFullError("task queue is full") from exc
            self._tasks[task.id] = task
            self._unread.add(task.id)
            self._peak_unread = max(self._peak_unread, len(self._unread))
        logger.info("task submitted", extra={"task_id": task.id, "operation": operation})
        return task.id

    def get(self, task_id: str, operation: str | None = None) -> TaskView:
        """Current state; NotExist for unknown/expired ids or when `operation` does not match."""
        with self._lock:
            self._purge_locked()
            task = self._tasks.get(task_id)
            if task is None or (operation is not None and task.operation.lower() != operation.lower()):
                return TaskView(id=task_id, status=NOT_EXIST, results=None, messages=[])
            started = task.started if task.status == PROCESSING else None
            if started is not None and self._clock() - started > self._timeout:
                self._finish_locked(
                    task, ERROR, None, [f"task exceeded the time limit of {self._timeout:g} s"]
                )
            if task.status in (COMPLETED, ERROR):
                self._unread.discard(task.id)
            return TaskView(
                id=task.id, status=task.status, results=task.results, messages=list(task.messages)
            )

    def cancel(self, task_id: str) -> None:
        """Cancel and forget a task (idempotent; unknown ids are ignored)."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is not None:
                self._forget_locked(task)
        if task is not None:
            task.cancelled.set()
            logger.info("task cancelled", extra={"task_id": task_id})

    def counts(self) -> dict[str, int]:
        """Number of stored tasks per status, plus the queue depth."""
        with self._lock:
            self._purge_locked()
            result: dict[str, int] = {}
            for task in self._tasks.values():
                result[task.status] = result.get(task.status, 0) + 1
            result["queued"] = self._queue.qsize()
            return result

    def in_flight(self) -> dict[str, int]:
        """Jobs accepted whose finished result nobody has read yet: now, and the most at any time."""
        with self._lock:
            return {"now": len(self._unread), "peak": self._peak_unread}

    def result_bytes(self) -> int:
        """Bytes of results retained now (counted against `max_result_bytes`)."""
        with self._lock:
            return self._result_bytes

    def _forget_locked(self, task: Task) -> None:
        self._tasks.pop(task.id, None)
        self._unread.discard(task.id)
        self._result_bytes -= task.result_bytes
        task.result_bytes = 0
        task.cancelled.set()

    def _purge_locked(self) -> None:
        horizon = self._clock() - self._retention
        while self._tasks:
            oldest = next(iter(self._tasks.values()))
            if oldest.created >= horizon and len(self._tasks) < self._max_tasks:
                break
            self._forget_locked(oldest)

    def _make_room_locked(self, size: int) -> None:
        """Forget the oldest finished tasks until `size` more result bytes fit under the cap."""
        finished = [t for t in self._tasks.values() if t.result_bytes and t.status == COMPLETED]
        for oldest in finished:
            if self._result_bytes + size <= self._max_result_bytes:
                break
            logger.info("result dropped: retained bytes over the limit", extra={"task_id": oldest.id})
            self._forget_locked(oldest)

    def _finish_locked(
        self, task: Task, status: str, results: list[Result] | None, messages: list[str]
    ) -> None:
        if task.status in (COMPLETED, ERROR):
            return
        size = sum(len(r.data) for r in results or [])
        if size > self._max_result_bytes:
            status, results, size = ERROR, None, 0
            messages = [f"the result is larger than the retained-bytes limit of {self._max_result_bytes}"]
        task.status, task.results, task.messages, task.job = status, results, messages, None
        if status == COMPLETED and self._faults.result_lost():
            self._tasks.pop(task.id, None)
            logger.info("task result lost (injected)", extra={"task_id": task.id})
            return
        if size:
            self._make_room_locked(size)
            task.result_bytes = size
            self._result_bytes += size

    def _work(self, runner: Runner) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            if task.cancelled.is_set() or task.job is None:
                continue
            with self._lock:
                task.status, task.started = PROCESSING, self._clock()
            self._run(task, task.job, runner)

    def _run(self, task: Task, item: Any, runner: Runner) -> None:
        delay = self._faults.delay_seconds()
        if delay > 0 and task.cancelled.wait(delay):
            return
        results: list[Result] | None = None
        messages: list[str] = []
        remaining = (task.started or self._clock()) + self._timeout - self._clock()
        if self._faults.task_error():
            messages = ["injected fault: task forced to Error"]
        elif remaining <= 0:
            messages = [f"task exceeded the time limit of {self._timeout:g} s"]
        else:
            try:
                results = runner.run(item, remaining)
            except TaskTimeoutError:
                messages = [f"task exceeded the time limit of {self._timeout:g} s"]
            except TaskFailedError as exc:
                messages = [str(exc)]
            except Exception as exc:
                logger.exception("task crashed", extra={"task_id": task.id})
                messages = [f"internal error while processing the image: {type(exc).__name__}"]
        with self._lock:
            if task.cancelled.is_set():
                return
            self._finish_locked(task, COMPLETED if results is not None else ERROR, results, messages)
        logger.info("task finished", extra={"task_id": task.id, "status": task.status})
