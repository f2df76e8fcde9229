"""Unit tests of the task store with in-process runners: time limits, result byte cap, queue bound."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ocr_service.config import FaultSettings
from ocr_service.faults import FaultInjector
from ocr_service.tasks import (
    COMPLETED,
    ERROR,
    NOT_EXIST,
    QueueFullError,
    Result,
    TaskStore,
    TaskTimeoutError,
    TaskView,
)


class FakeRunner:
    """Returns `item` bytes as one result; raises TaskTimeoutError for the item "overrun"."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def run(self, item: Any, timeout: float) -> list[Result]:
        self.timeouts.append(timeout)
        if item == "overrun":
            raise TaskTimeoutError
        if item == "slow":
            time.sleep(0.5)
            return [Result("Text", b"")]
        return [Result("ImagePNG", bytes(item))]


@contextmanager
def store(**options: Any) -> Iterator[tuple[TaskStore, FakeRunner]]:
    runner = FakeRunner()
    values: dict[str, Any] = {
        "runners": [runner],
        "queue_size": 8,
        "retention_seconds": 60.0,
        "max_tasks": 100,
        "task_timeout_seconds": 5.0,
        "faults": FaultInjector(FaultSettings()),
        **options,
    }
    tasks = TaskStore(**values)
    tasks.start()
    try:
        yield tasks, runner
    finally:
        tasks.stop(timeout=2.0)


def _wait(tasks: TaskStore, task_id: str) -> TaskView:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        view = tasks.get(task_id)
        if view.status not in ("Pending", "Processing"):
            return view
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} not finished")


def test_overrunning_task_ends_in_error_with_time_limit_message() -> None:
    with store() as (tasks, runner):
        view = _wait(tasks, tasks.submit("BinarizeImage", "overrun"))
    assert view.status == ERROR and "time limit" in view.messages[0]
    assert 0 < runner.timeouts[0] <= 5.0


def test_results_over_the_byte_cap_forget_the_oldest() -> None:
    # GIVEN a cap of 2.5 results of 1000 bytes
    with store(max_result_bytes=2500) as (tasks, _):
        ids = [tasks.submit("BinarizeImage", 1000) for _ in range(3)]
        views = [_wait(tasks, task_id) for task_id in reversed(ids)]
        # THEN the oldest is gone, the two newest are kept, and the count matches
        assert [v.status for v in views] == [COMPLETED, COMPLETED, NOT_EXIST]
        assert tasks.result_bytes() == 2000


def test_single_result_over_the_byte_cap_ends_in_error() -> None:
    with store(max_result_bytes=1024) as (tasks, _):
        view = _wait(tasks, tasks.submit("BinarizeImage", 2000))
        assert view.status == ERROR and "retained-bytes" in view.messages[0]
        assert tasks.result_bytes() == 0


def test_cancel_releases_retained_bytes() -> None:
    with store() as (tasks, _):
        task_id = tasks.submit("BinarizeImage", 1500)
        _wait(tasks, task_id)
        tasks.cancel(task_id)
        assert tasks.result_bytes() == 0 and tasks.get(task_id).status == NOT_EXIST


def test_full_queue_raises_queue_full() -> None:
    with store(queue_size=1) as (tasks, _), pytest.raises(QueueFullError):
        for _ in range(5):
            tasks.submit("BinarizeImage", "slow")


def test_jobs_in_flight_count_until_their_finished_result_is_read() -> None:
    # GIVEN a store and three submitted jobs
    with store() as (tasks, _):
        ids = [tasks.submit("BinarizeImage", b"x") for _ in range(3)]
        # WHEN they have finished but nobody has read them yet
        deadline = time.monotonic() + 5.0
        while tasks.counts().get(COMPLETED, 0) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        unread = tasks.in_flight()
        # AND then two results are read (the third job is never asked for)
        for task_id in ids[:2]:
            assert tasks.get(task_id).status == COMPLETED
        # THEN all three counted until read, one is still in flight, and the peak stays three
        assert unread == {"now": 3, "peak": 3}
        assert tasks.in_flight() == {"now": 1, "peak": 3}


def test_job_whose_result_is_lost_leaves_flight_when_the_client_learns_it_is_gone() -> None:
    # GIVEN a store that loses every result
    with store(faults=FaultInjector(FaultSettings(lost_rate=1.0))) as (tasks, _):
        task_id = tasks.submit("BinarizeImage", b"x")
        deadline = time.monotonic() + 5.0
        while tasks.in_flight()["now"] and tasks.get(task_id).status != NOT_EXIST:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # WHEN the client's GET answers NotExist / THEN the job no longer counts as in flight
        assert tasks.in_flight() == {"now": 0, "peak": 1}
