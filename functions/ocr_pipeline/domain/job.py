"""The OCR job of one image, one workflow state at a time.

``check_image`` validates the upload and plans the stages. For each stage, ``submit_stage`` POSTs its one
task (through the submission record, so never twice) and, when the task is expected to be short, asks
for the result itself; ``poll_stage`` is the Wait loop's check. A completed preprocessing stage stores
its image for the next stage; completed recognition writes the text and the result record.

State between steps is a :class:`Job` (keys, task ids, counters, times), never image bytes or text.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ocr_pipeline.domain.config import JobConfig, image_key, job_config, json_bytes, keys_of
from ocr_pipeline.domain.image import check_image as decode_checked
from ocr_pipeline.domain.models import DONE, ImageInfo, Job, ModeInfo, Stage, StageStatus, StageTask
from ocr_pipeline.domain.plan import plan_stages
from ocr_pipeline.domain.ports import Clock, ObjectStore, OcrApi, OcrResponse, TaskStatus
from ocr_pipeline.domain.records import result_record
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.domain.submission import Ledger, submit_once
from ocr_pipeline.errors import (
    BadInputError,
    OcrApiProtocolError,
    OcrTaskFailed,
    OcrTaskNotFound,
    PollLimitExceeded,
)
from ocr_pipeline.settings import BinarizationMode

__all__ = [
    "Clock",
    "JobConfig",
    "check_image",
    "job_config",
    "json_bytes",
    "keys_of",
    "poll_stage",
    "submit_stage",
]

_PNG_TYPES = ("ImagePNG", "PNG")
_TEXT_TYPES = ("Text",)


def _iso(clock: Clock) -> str:
    return clock().isoformat(timespec="milliseconds")


def check_image(obj: ObjectRef, *, store: ObjectStore, cfg: JobConfig) -> Job:
    """Check the upload (bytes, magic, pixel limit from the header, full decode) and plan its stages.

    Raises ``ImageTooLarge`` / ``UnsupportedImage`` / ``InvalidImage`` for bad input (never retried).
    """
    data = store.read(
        obj.bucket, obj.key, max_bytes=cfg.limits.max_bytes, version_id=obj.version_id, etag=obj.etag
    )
    image = decode_checked(data, max_bytes=cfg.limits.max_bytes, max_pixels=cfg.limits.max_pixels)
    steps, mode = plan_stages(image, cfg.mode, cfg.preprocessing)
    return Job(
        steps=steps,
        stage=None,
        status=StageStatus.COMPLETED,
        next=steps[0],
        wait_seconds=0,
        source_key=obj.key,
        source_version_id=obj.version_id,
        mode=mode,
        image=ImageInfo(
            format=image.format,
            width=image.width,
            height=image.height,
            bytes=image.byte_size,
            megapixels=round(image.megapixels, 3),
        ),
    )


def _post(ocr: OcrApi, stage: Stage, data: bytes, cfg: JobConfig, mode: ModeInfo) -> Callable[[], str]:
    if stage is Stage.RECOGNIZE:
        inline = mode.effective == BinarizationMode.INLINE.value
        return lambda: ocr.submit_recognition(data, language=cfg.language, make_binarization=inline)
    return lambda: ocr.submit_image(stage.operation, data)


def submit_stage(
    obj: ObjectRef,
    job: Job,
    stage: Stage,
    *,
    execution: str,
    store: ObjectStore,
    ocr: OcrApi,
    cfg: JobConfig,
    clock: Clock,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Job:
    """Submit the stage's one task and, if it is expected to be short, wait for it here.

    Once the POST was accepted nothing raises except a task that failed for good: any other error of
    the in-Lambda wait hands the job (with its task id) to the Wait loop. A re-run that resumes an
    accepted task goes straight to the Wait loop.
    """
    if job.next != stage:
        raise ValueError(f"job expects {job.next!r} next, not {stage.value}")
    # The upload is pinned to the version and eTag the execution was started for; a stage output is not.
    etag = obj.etag if job.source_key == obj.key else None
    data = store.read(
        obj.bucket,
        job.source_key,
        max_bytes=cfg.limits.max_bytes,
        version_id=job.source_version_id,
        etag=etag,
    )
    ledger = Ledger(store, obj.bucket, cfg.layout.SUBMISSION_PREFIX, execution, cfg.in_doubt_after_seconds)
    submission = submit_once(ledger, stage, _post(ocr, stage, data, cfg, job.mode), clock=clock)
    task = StageTask(
        operation=stage.operation,
        task_id=submission.task_id,
        submitted_at=submission.submitted_at,
        source_key=job.source_key,
        resumed=submission.resumed,
    )
    task = task.model_copy(update={"calls": task.calls.plus(posts=1 if submission.posted else 0)})
    job = job.model_copy(
        update={
            "stage": stage,
            "status": StageStatus.PENDING,
            "next": job.following(stage),
            "wait_seconds": cfg.schedule.initial_wait(_megapixels(job), stage),
            "tasks": {**job.tasks, stage: task},
        }
    )
    if submission.resumed:
        # A re-run of this state (its first run may have died while waiting here): straight to the loop.
        return job
    return _settle(
        obj,
        job,
        stage,
        execution=execution,
        store=store,
        ocr=ocr,
        cfg=cfg,
        clock=clock,
        sleep=sleep,
        monotonic=monotonic,
    )


def _megapixels(job: Job) -> float:
    """Size of the image the current stage works on."""
    return job.source_megapixels if job.source_megapixels is not None else job.image.megapixels


def _settle(
    obj: ObjectRef,
    job: Job,
    stage: Stage,
    *,
    execution: str,
    store: ObjectStore,
    ocr: OcrApi,
    cfg: JobConfig,
    clock: Clock,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> Job:
    expected = cfg.schedule.expected_seconds(_megapixels(job), stage)
    if not cfg.in_lambda.applies(expected):
        return job
    started = monotonic()
    deadline = started + cfg.in_lambda.budget_seconds
    delay = expected
    while monotonic() + delay <= deadline:
        sleep(delay)
        try:
            job = _check(
                obj,
                job,
                stage,
                in_lambda=True,
                execution=execution,
                store=store,
                ocr=ocr,
                cfg=cfg,
                clock=clock,
            )
        except (OcrTaskFailed, OcrTaskNotFound, BadInputError, OcrApiProtocolError):
            raise
        except Exception:  # accepted task: the Wait loop asks again instead of a re-post
            return job
        if job.status is StageStatus.COMPLETED:
            return job
        delay = cfg.in_lambda.next_delay(monotonic() - started, cfg.schedule.backoff_rate)
    return job.model_copy(update={"wait_seconds": 1})


def poll_stage(
    obj: ObjectRef,
    job: Job,
    stage: Stage,
    *,
    execution: str,
    store: ObjectStore,
    ocr: OcrApi,
    cfg: JobConfig,
    clock: Clock,
) -> Job:
    """The Wait loop's check: ask for the stage's result once and advance the job.

    Still running → the next wait; still running after ``MAX_POLLS`` checks → :class:`PollLimitExceeded`.
    ``Error`` → :class:`OcrTaskFailed`; ``NotExist`` → :class:`OcrTaskNotFound`.
    """
    if job.stage is not stage or job.status is not StageStatus.PENDING:
        raise ValueError(f"job is not waiting for {stage.value}")
    job = _check(
        obj, job, stage, in_lambda=False, execution=execution, store=store, ocr=ocr, cfg=cfg, clock=clock
    )
    if job.status is StageStatus.PENDING:
        task = job.task(stage)
        if not cfg.schedule.has_polls_left(task.polls):
            raise PollLimitExceeded(
                f"{stage.value} task {task.task_id} still running after {task.polls} polls"
            )
        return job.model_copy(update={"wait_seconds": cfg.schedule.next_wait(job.wait_seconds)})
    return job


def _check(
    obj: ObjectRef,
    job: Job,
    stage: Stage,
    *,
    in_lambda: bool,
    execution: str,
    store: ObjectStore,
    ocr: OcrApi,
    cfg: JobConfig,
    clock: Clock,
) -> Job:
    task = job.task(stage)
    response = ocr.result(stage.operation, task.task_id)
    counted = {"in_lambda_polls": task.in_lambda_polls + 1} if in_lambda else {"polls": task.polls + 1}
    task = task.model_copy(update={**counted, "calls": task.calls.plus(gets=1)})
    job = job.model_copy(update={"tasks": {**job.tasks, stage: task}, "total_polls": job.total_polls + 1})
    if response.task_status.running:
        return job
    payload = _completed_payload(stage, task.task_id, response)
    now = _iso(clock)
    if stage.preprocessing:
        key = image_key(obj, stage, cfg.layout)
        produced = decode_checked(payload, max_bytes=cfg.limits.max_bytes, max_pixels=cfg.limits.max_pixels)
        store.write(obj.bucket, key, payload, content_type="image/png")
        task = task.model_copy(update={"completed_at": now, "output_key": key, "output_bytes": len(payload)})
        return job.model_copy(
            update={
                "status": StageStatus.COMPLETED,
                "source_key": key,
                "source_version_id": None,
                "source_megapixels": round(produced.megapixels, 3),
                "tasks": {**job.tasks, stage: task},
                "wait_seconds": 0,
            }
        )
    text = payload.decode("utf-8", errors="replace")
    task = task.model_copy(update={"completed_at": now})
    job = job.model_copy(
        update={
            "status": StageStatus.COMPLETED,
            "next": DONE,
            "tasks": {**job.tasks, stage: task},
            "wait_seconds": 0,
        }
    )
    keys = keys_of(obj, cfg.layout)
    encoded = text.encode("utf-8")
    store.write(obj.bucket, keys.text, encoded, content_type="text/plain; charset=utf-8")
    record = result_record(obj, job, keys, text, execution=execution, cfg=cfg, finished_at=now)
    store.write(
        obj.bucket, keys.result, json_bytes(record.model_dump(mode="json")), content_type="application/json"
    )
    # A failure record of an earlier attempt (reprocessed, or the object uploaded again) is now stale.
    store.delete(obj.bucket, keys.failed)
    return job


def _completed_payload(stage: Stage, task_id: str, response: OcrResponse) -> bytes:
    if response.task_status is TaskStatus.ERROR:
        raise OcrTaskFailed(
            f"{stage.value} task {task_id} failed: {'; '.join(response.messages) or 'no message'}"
        )
    if response.task_status is TaskStatus.NOT_EXIST:
        raise OcrTaskNotFound(f"{stage.value} task {task_id} does not exist (unknown id or expired result)")
    wanted = {t.lower() for t in (_PNG_TYPES if stage.preprocessing else _TEXT_TYPES)}
    for result in response.results:
        if result.type.lower() in wanted:
            return result.data
    if len(response.results) == 1:
        return response.results[0].data
    raise OcrApiProtocolError(
        f"{stage.value} task {task_id} is Completed without a {'/'.join(sorted(wanted))} result"
    )
