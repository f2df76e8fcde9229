"""The OCR job's domain steps with in-memory collaborators."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ocr_pipeline.domain.failure import record_failure
from ocr_pipeline.domain.job import check, submit
from ocr_pipeline.domain.ports import TaskStatus
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.errors import InvalidImage, OcrTaskFailed, OcrTaskNotFound, PollLimitExceeded
from ocr_pipeline.settings import LayoutSettings, OcrSettings, load_settings
from tests.unit.pipeline.pipeline_support import BUCKET, LAYOUT_ENV, OCR_ENV, FakeOcr, FakeStore, image_bytes

OBJ = ObjectRef(bucket=BUCKET, key="incoming/2026/scan.png", version_id=None, etag="e1", size=None)


class StepClock:
    """Advances one second per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _settings(**overrides: str) -> OcrSettings:
    return load_settings(OcrSettings, {**OCR_ENV, **overrides})


@pytest.fixture
def store() -> FakeStore:
    fake = FakeStore()
    fake.objects[(BUCKET, OBJ.key)] = image_bytes(1000, 1000, "PNG", color=200)
    return fake


@pytest.fixture
def ocr() -> FakeOcr:
    return FakeOcr(png=image_bytes(1000, 1000, "PNG", color=255), text="Hello, wörld\n")


def _run_to_end(job: dict[str, Any], store: FakeStore, ocr: FakeOcr, settings: OcrSettings) -> dict[str, Any]:
    for _ in range(20):
        if job["action"] == "done":
            return job
        job = check(OBJ, job, store=store, ocr=ocr, settings=settings, clock=StepClock())
    raise AssertionError("job did not finish within 20 checks")


def test_submit_endpoint_mode_posts_binarization_with_first_wait(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN endpoint mode and a 1 MP image / WHEN submitted
    job = submit(OBJ, store=store, ocr=ocr, settings=_settings(), clock=StepClock())
    # THEN BinarizeImage is posted once and the first wait follows the image size (1 + 2 s/MP x 1 MP)
    assert [op for op, _ in ocr.submitted] == ["BinarizeImage"]
    assert (job["stage"], job["task_id"], job["wait_seconds"], job["action"]) == (
        "binarize",
        "task-1",
        3,
        "wait",
    )


@pytest.mark.parametrize(("mode", "inline"), [("inline", True), ("off", False)])
def test_submit_recognize_modes_post_recognition_directly(
    store: FakeStore, ocr: FakeOcr, mode: str, inline: bool
) -> None:
    # GIVEN a mode without the binarization endpoint / WHEN submitted
    job = submit(OBJ, store=store, ocr=ocr, settings=_settings(BINARIZATION_MODE=mode), clock=StepClock())
    # THEN RecognizeImage is posted with makeBinarization only for inline
    assert ocr.submitted == [("RecognizeImage", {"language": "English", "make_binarization": inline})]
    assert job["stage"] == "recognize"


def test_submit_auto_mode_records_decision_and_stats(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN auto mode / WHEN submitted
    job = submit(OBJ, store=store, ocr=ocr, settings=_settings(BINARIZATION_MODE="auto"), clock=StepClock())
    # THEN the decision and its statistics travel with the job
    decision = job["mode"]["decision"]
    assert set(decision) == {"binarize", "reason", "stats"}
    assert job["mode"]["effective"] in ("endpoint", "off")


def test_submit_not_an_image_raises_invalid_before_any_api_call(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN a truncated PNG
    store.objects[(BUCKET, OBJ.key)] = image_bytes(300, 300, "PNG", color=100)[:60]
    # WHEN submitted / THEN it fails as bad input and the API is not called
    with pytest.raises(InvalidImage):
        submit(OBJ, store=store, ocr=ocr, settings=_settings(), clock=StepClock())
    assert ocr.submitted == []


def test_check_pending_task_waits_longer(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN a submitted job whose task is still processing
    job = submit(OBJ, store=store, ocr=ocr, settings=_settings(), clock=StepClock())
    ocr.statuses["task-1"] = [TaskStatus.PROCESSING]
    # WHEN checked
    after = check(OBJ, job, store=store, ocr=ocr, settings=_settings(), clock=StepClock())
    # THEN it waits again, longer, with the poll counted
    assert (after["action"], after["polls"], after["wait_seconds"]) == ("wait", 1, 5)


def test_check_completed_binarization_submits_recognition_of_png(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN a job whose binarization is complete
    job = submit(OBJ, store=store, ocr=ocr, settings=_settings(), clock=StepClock())
    # WHEN checked
    after = check(OBJ, job, store=store, ocr=ocr, settings=_settings(), clock=StepClock())
    # THEN the PNG is stored and recognition of it is submitted in the same step
    assert store.objects[(BUCKET, "binarized/2026/scan.png.png")] == ocr.png
    assert ocr.submitted[-1] == ("RecognizeImage", {"language": "English", "make_binarization": False})
    assert (after["stage"], after["task_id"], after["polls"], after["total_polls"]) == (
        "recognize",
        "task-2",
        0,
        1,
    )


def test_check_completed_recognition_writes_text_and_result(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN a job run to its end
    settings = _settings()
    job = _run_to_end(
        submit(OBJ, store=store, ocr=ocr, settings=settings, clock=StepClock()), store, ocr, settings
    )
    # THEN the text is UTF-8 and the result record names outputs, tasks and polls
    assert store.objects[(BUCKET, "text/2026/scan.png.txt")].decode("utf-8") == "Hello, wörld\n"
    record = store.json("results/2026/scan.png.json")
    assert record["status"] == "SUCCEEDED"
    assert record["outputs"] == {
        "text": "text/2026/scan.png.txt",
        "binarized": "binarized/2026/scan.png.png",
        "result": "results/2026/scan.png.json",
    }
    assert set(record["tasks"]) == {"binarize", "recognize"}
    assert record["polls"] == 2
    assert record["sizes"]["text_chars"] == len("Hello, wörld\n")
    assert job["action"] == "done"


def test_check_off_mode_result_has_no_binarized_output(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN off mode run to its end
    settings = _settings(BINARIZATION_MODE="off")
    _run_to_end(submit(OBJ, store=store, ocr=ocr, settings=settings, clock=StepClock()), store, ocr, settings)
    # THEN no binarized image is claimed or written
    assert store.json("results/2026/scan.png.json")["outputs"]["binarized"] is None
    assert (BUCKET, "binarized/2026/scan.png.png") not in store.objects


@pytest.mark.parametrize(
    ("status", "error"), [(TaskStatus.ERROR, OcrTaskFailed), (TaskStatus.NOT_EXIST, OcrTaskNotFound)]
)
def test_check_terminal_failure_raises_named_error(
    store: FakeStore, ocr: FakeOcr, status: TaskStatus, error: type[Exception]
) -> None:
    # GIVEN a task that ended badly
    job = submit(OBJ, store=store, ocr=ocr, settings=_settings(), clock=StepClock())
    ocr.statuses["task-1"] = [status]
    # WHEN checked / THEN the matching named error propagates for the workflow's Catch
    with pytest.raises(error):
        check(OBJ, job, store=store, ocr=ocr, settings=_settings(), clock=StepClock())


def test_check_still_running_at_max_polls_raises_poll_limit(store: FakeStore, ocr: FakeOcr) -> None:
    # GIVEN MAX_POLLS = 3 and a task that never finishes
    settings = _settings()
    job = submit(OBJ, store=store, ocr=ocr, settings=settings, clock=StepClock())
    ocr.statuses["task-1"] = [TaskStatus.PENDING]
    job = check(OBJ, job, store=store, ocr=ocr, settings=settings, clock=StepClock())
    job = check(OBJ, job, store=store, ocr=ocr, settings=settings, clock=StepClock())
    # WHEN the third check still sees it pending / THEN the poll limit is reached
    with pytest.raises(PollLimitExceeded):
        check(OBJ, job, store=store, ocr=ocr, settings=settings, clock=StepClock())


def test_record_failure_caught_lambda_error_writes_stage_type_message(store: FakeStore) -> None:
    # GIVEN the state a Catch produced for a failing check
    cause = json.dumps({"errorType": "OcrTaskFailed", "errorMessage": "engine crashed", "stackTrace": ["x"]})
    state = {
        "object": OBJ.to_payload(),
        "job": {"stage": "recognize", "task_id": "t-9", "polls": 2, "total_polls": 3, "tasks": {}},
        "error": {"Error": "OcrTaskFailed", "Cause": cause},
    }
    layout = load_settings(LayoutSettings, LAYOUT_ENV)
    # WHEN recorded
    outcome = record_failure(
        state, execution="exec-1", status="FAILED", store=store, layout=layout, clock=StepClock()
    )
    # THEN failed/<rel>.json carries stage, error type, the message (not the stack) and attempts
    record = store.json("failed/2026/scan.png.json")
    assert outcome == {"failed_key": "failed/2026/scan.png.json", "error_type": "OcrTaskFailed"}
    assert (record["stage"], record["error_type"], record["message"]) == (
        "recognize",
        "OcrTaskFailed",
        "engine crashed",
    )
    assert record["attempts"] == {"polls": 2, "total_polls": 3}


def test_record_failure_before_any_job_names_submit_stage(store: FakeStore) -> None:
    # GIVEN a failure in the first state (no job yet)
    state = {"object": OBJ.to_payload(), "error": {"Error": "InvalidImage", "Cause": "not an image"}}
    layout = load_settings(LayoutSettings, LAYOUT_ENV)
    # WHEN recorded / THEN the stage is "submit"
    record_failure(state, execution="e", status="FAILED", store=store, layout=layout, clock=StepClock())
    assert store.json("failed/2026/scan.png.json")["stage"] == "submit"
