"""The bounded in-Lambda poll right after submission (``settle``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ocr_pipeline.domain.job import settle, submit
from ocr_pipeline.domain.ports import TaskStatus
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.errors import OcrTaskFailed
from ocr_pipeline.settings import OcrSettings, load_settings
from tests.unit.pipeline.pipeline_support import BUCKET, OCR_ENV, FakeOcr, FakeStore, image_bytes

OBJ = ObjectRef(bucket=BUCKET, key="incoming/2026/scan.png", version_id=None, etag="e1", size=None)
RUNNING = TaskStatus.PROCESSING
DONE = TaskStatus.COMPLETED


class FakeTime:
    """A monotonic clock that only moves when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class StepClock:
    """Advances one second per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


_clock = StepClock()


def _settings(seconds: str, **overrides: str) -> OcrSettings:
    env = {**OCR_ENV, "IN_LAMBDA_POLL_SECONDS": seconds, **overrides}
    return load_settings(OcrSettings, env)


@pytest.fixture
def store() -> FakeStore:
    fake = FakeStore()
    fake.objects[(BUCKET, OBJ.key)] = image_bytes(400, 300, "PNG", color=200)
    return fake


@pytest.fixture
def ocr() -> FakeOcr:
    return FakeOcr(png=image_bytes(400, 300, "PNG", color=255), text="Hello\n")


def _settle(
    job: dict[str, Any], store: FakeStore, ocr: FakeOcr, settings: OcrSettings, t: FakeTime
) -> dict[str, Any]:
    return settle(
        OBJ, job, store=store, ocr=ocr, settings=settings, clock=_clock, sleep=t.sleep, monotonic=t.monotonic
    )


def test_settle_zero_budget_returns_job_without_api_call(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN the in-Lambda poll turned off
    settings = _settings("0")
    job = submit(OBJ, store=store, ocr=ocr, settings=settings, clock=_clock)
    t = FakeTime()
    # WHEN settled / THEN nothing is polled and the job goes to the Wait loop as submitted
    assert _settle(job, store, ocr, settings, t) == job
    assert t.sleeps == []


def test_settle_short_recognition_finishes_in_lambda(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN recognition without binarization that completes at the second check
    settings = _settings("3", BINARIZATION_MODE="off")
    job = submit(OBJ, store=store, ocr=ocr, settings=settings, clock=_clock)
    ocr.statuses[job["task_id"]] = [RUNNING, DONE]
    # WHEN settled
    done = _settle(job, store, ocr, settings, FakeTime())
    # THEN the outputs are written here, after two in-Lambda checks and no Wait-loop check
    assert done["action"] == "done"
    assert (done["in_lambda_polls"], done["total_polls"]) == (2, 0)
    assert store.json("results/2026/scan.png.json")["in_lambda_polls"] == 2


def test_settle_endpoint_mode_chains_binarization_into_recognition(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN endpoint mode where both tasks complete quickly
    settings = _settings("3")
    job = submit(OBJ, store=store, ocr=ocr, settings=settings, clock=_clock)
    # WHEN settled
    done = _settle(job, store, ocr, settings, FakeTime())
    # THEN binarization, then recognition were submitted and the job finished
    assert [op for op, _ in ocr.submitted] == ["BinarizeImage", "RecognizeImage"]
    assert done["action"] == "done"


def test_settle_long_job_hands_over_unchanged_counters_within_budget(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN a task that keeps running and a 1 s budget at 0.25 s intervals
    settings = _settings("1", BINARIZATION_MODE="off")
    job = submit(OBJ, store=store, ocr=ocr, settings=settings, clock=_clock)
    ocr.statuses[job["task_id"]] = [RUNNING]
    t = FakeTime()
    # WHEN settled
    waiting = _settle(job, store, ocr, settings, t)
    # THEN it stopped at the budget and the Wait loop starts with its own budget and first wait
    assert waiting["action"] == "wait"
    assert sum(t.sleeps) <= 1.0
    assert waiting["in_lambda_polls"] == 4
    assert (waiting["polls"], waiting["wait_seconds"]) == (job["polls"], job["wait_seconds"])


def test_settle_failed_task_raises_task_failed(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN a task that ends in Error
    settings = _settings("3", BINARIZATION_MODE="off")
    job = submit(OBJ, store=store, ocr=ocr, settings=settings, clock=_clock)
    ocr.statuses[job["task_id"]] = [TaskStatus.ERROR]
    # WHEN settled / THEN the named error reaches the state machine's Catch
    with pytest.raises(OcrTaskFailed):
        _settle(job, store, ocr, settings, FakeTime())
