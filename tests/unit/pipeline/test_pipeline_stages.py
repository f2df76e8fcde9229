"""Each workflow stage on in-memory fakes: validate and plan, submit (+ in-Lambda wait), poll, finish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ocr_pipeline.domain.job import JobConfig, check_image, job_config, poll_stage, submit_stage
from ocr_pipeline.domain.models import DONE, Job, ResultRecord, Stage, StageStatus
from ocr_pipeline.domain.ports import TaskStatus
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.errors import (
    InvalidImage,
    OcrApiThrottled,
    OcrApiUnavailable,
    OcrTaskFailed,
    OcrTaskNotFound,
    PollLimitExceeded,
)
from ocr_pipeline.settings import OcrSettings, load_settings
from tests.unit.pipeline.pipeline_support import BUCKET, OCR_ENV, FakeOcr, FakeStore, image_bytes

OBJ = ObjectRef(bucket=BUCKET, key="incoming/2026/scan.png", version_id=None, etag="e1", size=None)
EXECUTION = "scan-png-0123"
T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=100)
        return self.now


class Sleeper:
    """Fake ``sleep`` + ``monotonic`` pair."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def monotonic(self) -> float:
        return self.t


def _cfg(**env: str) -> JobConfig:
    return job_config(load_settings(OcrSettings, {**OCR_ENV, **env}))


def _store() -> FakeStore:
    store = FakeStore()
    store.objects[(BUCKET, OBJ.key)] = image_bytes(400, 300, "PNG", color=180)
    return store


def _submit(job: Job, stage: Stage, store: FakeStore, ocr: FakeOcr, cfg: JobConfig, **kw: Any) -> Job:
    sleeper = kw.pop("sleeper", Sleeper())
    return submit_stage(
        OBJ,
        job,
        stage,
        execution=EXECUTION,
        store=store,
        ocr=ocr,
        cfg=cfg,
        clock=Clock(),
        sleep=sleeper.sleep,
        monotonic=sleeper.monotonic,
    )


def _poll(job: Job, stage: Stage, store: FakeStore, ocr: FakeOcr, cfg: JobConfig) -> Job:
    return poll_stage(OBJ, job, stage, execution=EXECUTION, store=store, ocr=ocr, cfg=cfg, clock=Clock())


def test_check_image_endpoint_mode_plans_binarize_then_recognize() -> None:
    # GIVEN an uploaded image and endpoint mode / WHEN it is checked
    job = check_image(OBJ, store=_store(), cfg=_cfg())
    # THEN the job routes to binarization first, with the image described and no task yet
    assert (job.steps, job.next, job.status) == (
        (Stage.BINARIZE, Stage.RECOGNIZE),
        Stage.BINARIZE,
        "completed",
    )
    assert (job.image.width, job.image.height, job.tasks) == (400, 300, {})


def test_check_image_off_mode_goes_straight_to_recognition() -> None:
    # GIVEN mode off / WHEN checked / THEN recognition is the only stage
    job = check_image(OBJ, store=_store(), cfg=_cfg(BINARIZATION_MODE="off"))
    assert job.steps == (Stage.RECOGNIZE,) and job.next is Stage.RECOGNIZE


def test_check_image_not_an_image_raises_invalid_image_without_api_calls() -> None:
    # GIVEN bytes that are not an image / WHEN checked / THEN bad input, nothing else happens
    store = FakeStore({(BUCKET, OBJ.key): b"\x89PNG\r\n\x1a\nnot really"})
    with pytest.raises(InvalidImage):
        check_image(OBJ, store=store, cfg=_cfg())


def test_submit_stage_pending_task_goes_to_wait_loop_with_expected_wait() -> None:
    # GIVEN in-Lambda waiting off and a running task
    store, ocr, cfg = _store(), FakeOcr(), _cfg(IN_LAMBDA_POLL_SECONDS="0")
    job = check_image(OBJ, store=store, cfg=cfg)
    # WHEN binarization is submitted
    job = _submit(job, Stage.BINARIZE, store, ocr, cfg)
    # THEN one POST, no GET, the job waits the expected time (1 + 2 x 0.12 MP → 2 s)
    assert [op for op, _ in ocr.submitted] == ["BinarizeImage"] and ocr.gets == []
    assert (job.stage, job.status, job.next, job.wait_seconds) == (
        Stage.BINARIZE,
        "pending",
        Stage.RECOGNIZE,
        2,
    )
    assert job.task(Stage.BINARIZE).calls.posts == 1


def test_submit_stage_in_lambda_first_get_at_expected_time_completes_stage() -> None:
    # GIVEN a task expected within the in-Lambda budget, completed when first asked
    store, ocr, cfg = _store(), FakeOcr(png=image_bytes(400, 300)), _cfg(IN_LAMBDA_POLL_SECONDS="3")
    job = check_image(OBJ, store=store, cfg=cfg)
    sleeper = Sleeper()
    # WHEN binarization is submitted
    job = _submit(job, Stage.BINARIZE, store, ocr, cfg, sleeper=sleeper)
    # THEN it slept the expected 1.24 s once, made one GET of the op itself, stored the PNG
    assert sleeper.sleeps == [pytest.approx(1.24)]
    assert ocr.gets == [("BinarizeImage", "task-1")]
    assert (job.status, job.next, job.source_key) == (
        "completed",
        Stage.RECOGNIZE,
        "binarized/2026/scan.png.png",
    )
    task = job.task(Stage.BINARIZE)
    assert (task.calls.posts, task.calls.gets, task.in_lambda_polls, task.polls) == (1, 1, 1, 0)
    assert store.objects[(BUCKET, "binarized/2026/scan.png.png")] == ocr.png


def test_submit_stage_error_after_accepted_post_hands_job_to_wait_loop() -> None:
    # GIVEN a POST that is accepted, then a GET that fails with a transient error
    store, cfg = _store(), _cfg(IN_LAMBDA_POLL_SECONDS="3")
    ocr = FakeOcr(get_errors=[OcrApiUnavailable("503 after retries")])
    job = check_image(OBJ, store=store, cfg=cfg)
    # WHEN binarization is submitted
    job = _submit(job, Stage.BINARIZE, store, ocr, cfg)
    # THEN nothing is raised: the task id travels on to the Wait loop
    assert (job.status, job.task(Stage.BINARIZE).task_id) == ("pending", "task-1")
    assert len(ocr.accepted) == 1


def test_submit_stage_task_error_seen_in_lambda_fails_stage() -> None:
    # GIVEN a task that ends in Error / WHEN submitted and checked in-Lambda / THEN the stage fails for good
    store, cfg = _store(), _cfg(IN_LAMBDA_POLL_SECONDS="3")
    ocr = FakeOcr(statuses={"task-1": [TaskStatus.ERROR]})
    job = check_image(OBJ, store=store, cfg=cfg)
    with pytest.raises(OcrTaskFailed, match="binarize task task-1 failed: boom"):
        _submit(job, Stage.BINARIZE, store, ocr, cfg)


def test_poll_stage_running_counts_poll_and_backs_off() -> None:
    # GIVEN a submitted task still processing
    store, cfg = _store(), _cfg(IN_LAMBDA_POLL_SECONDS="0")
    ocr = FakeOcr(statuses={"task-1": [TaskStatus.PROCESSING, TaskStatus.COMPLETED]})
    job = _submit(check_image(OBJ, store=store, cfg=cfg), Stage.BINARIZE, store, ocr, cfg)
    # WHEN the Wait loop checks it
    job = _poll(job, Stage.BINARIZE, store, ocr, cfg)
    # THEN it waits longer (2 x 1.5 → 3), one poll for the stage and in total
    assert (job.status, job.wait_seconds, job.total_polls) == ("pending", 3, 1)
    assert job.task(Stage.BINARIZE).polls == 1


def test_poll_stage_limit_reached_raises_poll_limit_exceeded() -> None:
    # GIVEN a task that never finishes and MAX_POLLS 3
    store, cfg = _store(), _cfg(IN_LAMBDA_POLL_SECONDS="0", MAX_POLLS="3")
    ocr = FakeOcr(statuses={"task-1": [TaskStatus.PENDING]})
    job = _submit(check_image(OBJ, store=store, cfg=cfg), Stage.BINARIZE, store, ocr, cfg)
    job = _poll(_poll(job, Stage.BINARIZE, store, ocr, cfg), Stage.BINARIZE, store, ocr, cfg)
    # WHEN checked a third time / THEN the limit stops it
    with pytest.raises(PollLimitExceeded, match="after 3 polls"):
        _poll(job, Stage.BINARIZE, store, ocr, cfg)


def test_poll_stage_not_exist_raises_task_not_found() -> None:
    store, cfg = _store(), _cfg(IN_LAMBDA_POLL_SECONDS="0")
    ocr = FakeOcr(statuses={"task-1": [TaskStatus.NOT_EXIST]})
    job = _submit(check_image(OBJ, store=store, cfg=cfg), Stage.BINARIZE, store, ocr, cfg)
    with pytest.raises(OcrTaskNotFound):
        _poll(job, Stage.BINARIZE, store, ocr, cfg)


def test_full_endpoint_job_writes_text_and_valid_result_record_with_calls_per_stage() -> None:
    # GIVEN endpoint mode and tasks completed at the Wait loop's first check
    store, cfg = _store(), _cfg(IN_LAMBDA_POLL_SECONDS="0")
    ocr = FakeOcr(png=image_bytes(400, 300), text="Hello, wörld\n")
    job = check_image(OBJ, store=store, cfg=cfg)
    # WHEN each stage is submitted and polled once
    for stage in (Stage.BINARIZE, Stage.RECOGNIZE):
        job = _poll(_submit(job, stage, store, ocr, cfg), stage, store, ocr, cfg)
    # THEN the text is written, recognition read the binarized PNG, and the record validates
    assert (job.status, job.next) == ("completed", DONE)
    assert store.objects[(BUCKET, "text/2026/scan.png.txt")].decode("utf-8") == "Hello, wörld\n"
    assert job.task(Stage.RECOGNIZE).source_key == "binarized/2026/scan.png.png"
    record = ResultRecord.model_validate(store.json("results/2026/scan.png.json"))
    assert (record.calls.posts, record.calls.gets, record.polls) == (2, 2, 2)
    assert {s: (r.calls.posts, r.calls.gets) for s, r in record.stages.items()} == {
        Stage.BINARIZE: (1, 1),
        Stage.RECOGNIZE: (1, 1),
    }
    assert record.outputs.binarized == "binarized/2026/scan.png.png"
    assert record.input.key == OBJ.key and record.execution == EXECUTION
    assert record.sizes.text_chars == len("Hello, wörld\n")


def test_inline_mode_recognizes_original_with_make_binarization() -> None:
    # GIVEN inline mode / WHEN its one stage is submitted / THEN RecognizeImage of the upload, binarizing
    store, cfg, ocr = _store(), _cfg(BINARIZATION_MODE="inline", IN_LAMBDA_POLL_SECONDS="0"), FakeOcr()
    job = _submit(check_image(OBJ, store=store, cfg=cfg), Stage.RECOGNIZE, store, ocr, cfg)
    assert ocr.submitted == [("RecognizeImage", {"language": "English", "make_binarization": True})]
    assert job.task(Stage.RECOGNIZE).source_key == OBJ.key


def test_submit_stage_out_of_order_is_refused() -> None:
    # GIVEN a job planned for binarization / WHEN recognition is submitted first / THEN refused
    store, cfg = _store(), _cfg()
    with pytest.raises(ValueError, match="expects"):
        _submit(check_image(OBJ, store=store, cfg=cfg), Stage.RECOGNIZE, store, FakeOcr(), cfg)


def test_submit_stage_throttled_post_raises_for_workflow_retry_and_frees_claim() -> None:
    # GIVEN a POST answered 429
    store, cfg = _store(), _cfg(IN_LAMBDA_POLL_SECONDS="0")
    ocr = FakeOcr(post_errors=[OcrApiThrottled("429")])
    job = check_image(OBJ, store=store, cfg=cfg)
    # WHEN submitted / THEN the named error surfaces, and the retry can submit (exactly one accepted)
    with pytest.raises(OcrApiThrottled):
        _submit(job, Stage.BINARIZE, store, ocr, cfg)
    job = _submit(job, Stage.BINARIZE, store, ocr, cfg)
    assert len(ocr.accepted) == 1 and job.task(Stage.BINARIZE).task_id == "task-2"


@pytest.mark.parametrize("stage_status", [StageStatus.PENDING])
def test_poll_stage_on_a_job_not_waiting_for_that_stage_is_refused(stage_status: StageStatus) -> None:
    store, cfg = _store(), _cfg()
    job = check_image(OBJ, store=store, cfg=cfg)
    with pytest.raises(ValueError, match="not waiting"):
        _poll(job, Stage.BINARIZE, store, FakeOcr(), cfg)
