"""The OCR job of one image: submit, poll, chain binarization into recognition, write the outputs.

State between steps travels in the workflow payload as plain JSON (keys, task ids, counters, times),
never as image bytes or text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ocr_pipeline.domain.binarization import decide_binarization, image_stats
from ocr_pipeline.domain.image import check_image
from ocr_pipeline.domain.keys import OutputKeys, output_keys
from ocr_pipeline.domain.polling import PollSchedule, Stage
from ocr_pipeline.domain.ports import ObjectStore, OcrApi, OcrResponse, TaskStatus
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.errors import OcrTaskFailed, OcrTaskNotFound, PollLimitExceeded
from ocr_pipeline.settings import BinarizationMode, LayoutSettings, OcrSettings

Clock = Callable[[], datetime]
Job = dict[str, Any]


def schedule_of(settings: OcrSettings) -> PollSchedule:
    """The poll schedule configured for a function."""
    return PollSchedule(
        first_wait=settings.FIRST_WAIT_SECONDS,
        seconds_per_megapixel=settings.SECONDS_PER_MEGAPIXEL,
        max_wait=settings.MAX_WAIT_SECONDS,
        backoff_rate=settings.POLL_BACKOFF_RATE,
        max_polls=settings.MAX_POLLS,
    )


def keys_of(obj: ObjectRef, layout: LayoutSettings) -> OutputKeys:
    """Output keys of ``obj`` under the configured layout."""
    return output_keys(
        obj.key,
        input_prefix=layout.INPUT_PREFIX,
        text_prefix=layout.TEXT_PREFIX,
        binarized_prefix=layout.BINARIZED_PREFIX,
        result_prefix=layout.RESULT_PREFIX,
        failed_prefix=layout.FAILED_PREFIX,
    )


def _iso(clock: Clock) -> str:
    return clock().isoformat(timespec="milliseconds")


def _seconds_between(start: str, end: str) -> float:
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def _task_record(task_id: str, submitted_at: str) -> dict[str, Any]:
    return {"task_id": task_id, "submitted_at": submitted_at, "completed_at": None, "polls": 0}


def submit(obj: ObjectRef, *, store: ObjectStore, ocr: OcrApi, settings: OcrSettings, clock: Clock) -> Job:
    """Check the image, choose the binarization mode, submit the first OCR task; return the new job.

    Raises ``ImageTooLarge`` / ``UnsupportedImage`` / ``InvalidImage`` for bad input (never worth a retry)
    and the OCR client's errors for API trouble.
    """
    data = store.read(
        obj.bucket, obj.key, max_bytes=settings.MAX_IMAGE_BYTES, version_id=obj.version_id, etag=obj.etag
    )
    image = check_image(data, max_bytes=settings.MAX_IMAGE_BYTES, max_pixels=settings.MAX_IMAGE_PIXELS)
    requested = settings.BINARIZATION_MODE
    effective = requested
    decision: dict[str, Any] | None = None
    if requested is BinarizationMode.AUTO:
        verdict = decide_binarization(image_stats(image.image))
        effective = BinarizationMode.ENDPOINT if verdict.binarize else BinarizationMode.OFF
        decision = {"binarize": verdict.binarize, "reason": verdict.reason, "stats": verdict.stats.as_dict()}
    schedule = schedule_of(settings)
    if effective is BinarizationMode.ENDPOINT:
        stage = Stage.BINARIZE
        task_id = ocr.submit_binarization(data)
    else:
        stage = Stage.RECOGNIZE
        task_id = ocr.submit_recognition(
            data, language=settings.LANGUAGE, make_binarization=effective is BinarizationMode.INLINE
        )
    return {
        "stage": stage.value,
        "task_id": task_id,
        "action": "wait",
        "wait_seconds": schedule.initial_wait(image.megapixels, stage),
        "polls": 0,
        "total_polls": 0,
        "mode": {"requested": requested.value, "effective": effective.value, "decision": decision},
        "image": {
            "format": image.format,
            "width": image.width,
            "height": image.height,
            "bytes": image.byte_size,
            "megapixels": round(image.megapixels, 3),
        },
        "tasks": {stage.value: _task_record(task_id, _iso(clock))},
    }


def check(
    obj: ObjectRef, job: Job, *, store: ObjectStore, ocr: OcrApi, settings: OcrSettings, clock: Clock
) -> Job:
    """Poll the job's current task once and advance the job.

    Still running → ``action: wait`` with the next interval. Binarization completed → store the PNG and
    submit recognition of it (``action: wait`` on the new task). Recognition completed → write text and
    result record (``action: done``). ``Error`` → :class:`OcrTaskFailed`; ``NotExist`` →
    :class:`OcrTaskNotFound`; still running after ``MAX_POLLS`` checks → :class:`PollLimitExceeded`.
    """
    stage = Stage(job["stage"])
    task_id = str(job["task_id"])
    response = ocr.task_status(task_id)
    job = {**job, "polls": int(job["polls"]) + 1, "total_polls": int(job["total_polls"]) + 1}
    job["tasks"] = {**job["tasks"], stage.value: {**job["tasks"][stage.value], "polls": job["polls"]}}
    schedule = schedule_of(settings)
    if response.task_status.running:
        if not schedule.has_polls_left(job["polls"]):
            raise PollLimitExceeded(
                f"{stage.value} task {task_id} still {response.task_status} after {job['polls']} polls"
            )
        return {**job, "action": "wait", "wait_seconds": schedule.next_wait(int(job["wait_seconds"]))}
    return _advance(obj, job, response, store=store, ocr=ocr, settings=settings, clock=clock)


def settle(
    obj: ObjectRef,
    job: Job,
    *,
    store: ObjectStore,
    ocr: OcrApi,
    settings: OcrSettings,
    clock: Clock,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Job:
    """Right after submission, poll from inside the function so short jobs finish without the Wait loop.

    Checks the current task every ``IN_LAMBDA_POLL_INTERVAL_SECONDS`` for at most
    ``IN_LAMBDA_POLL_SECONDS`` (0 turns it off) and advances the job as ``check`` does (binarization
    completed → recognition submitted, recognition completed → outputs written, ``action: done``). A job
    still running at the deadline is handed to the Wait loop unchanged: its ``polls`` budget and first
    wait are untouched. These checks are counted in ``in_lambda_polls``. Raises what ``check`` raises.
    """
    budget = settings.IN_LAMBDA_POLL_SECONDS
    if budget <= 0 or job["action"] != "wait":
        return job
    interval = settings.IN_LAMBDA_POLL_INTERVAL_SECONDS
    deadline = monotonic() + budget
    while job["action"] == "wait" and monotonic() + interval <= deadline:
        sleep(interval)
        response = ocr.task_status(str(job["task_id"]))
        job = {**job, "in_lambda_polls": int(job.get("in_lambda_polls", 0)) + 1}
        if not response.task_status.running:
            job = _advance(obj, job, response, store=store, ocr=ocr, settings=settings, clock=clock)
    return job


def _advance(
    obj: ObjectRef,
    job: Job,
    response: OcrResponse,
    *,
    store: ObjectStore,
    ocr: OcrApi,
    settings: OcrSettings,
    clock: Clock,
) -> Job:
    """Act on a finished task: chain binarization into recognition, or write the outputs."""
    stage = Stage(job["stage"])
    task_id = str(job["task_id"])
    if response.task_status is TaskStatus.ERROR:
        raise OcrTaskFailed(
            f"{stage.value} task {task_id} failed: {'; '.join(response.messages) or 'no message'}"
        )
    if response.task_status is TaskStatus.NOT_EXIST:
        raise OcrTaskNotFound(f"{stage.value} task {task_id} does not exist (unknown id or expired result)")
    now = _iso(clock)
    job = {**job, "tasks": {**job["tasks"]}}
    job["tasks"][stage.value] = {**job["tasks"][stage.value], "completed_at": now}
    keys = keys_of(obj, settings)
    if stage is Stage.BINARIZE:
        return _recognize_binarized(obj, job, keys, store=store, ocr=ocr, settings=settings, now=now)
    text = ocr.recognition_result(task_id)
    return _finish(obj, job, keys, text, store=store, settings=settings, now=now)


def _recognize_binarized(
    obj: ObjectRef,
    job: Job,
    keys: OutputKeys,
    *,
    store: ObjectStore,
    ocr: OcrApi,
    settings: OcrSettings,
    now: str,
) -> Job:
    png = ocr.binarization_result(str(job["task_id"]))
    binarized = check_image(png, max_bytes=settings.MAX_IMAGE_BYTES, max_pixels=settings.MAX_IMAGE_PIXELS)
    store.write(obj.bucket, keys.binarized, png, content_type="image/png")
    task_id = ocr.submit_recognition(png, language=settings.LANGUAGE, make_binarization=False)
    return {
        **job,
        "stage": Stage.RECOGNIZE.value,
        "task_id": task_id,
        "action": "wait",
        "polls": 0,
        "wait_seconds": schedule_of(settings).initial_wait(binarized.megapixels, Stage.RECOGNIZE),
        "binarized_bytes": len(png),
        "tasks": {**job["tasks"], Stage.RECOGNIZE.value: _task_record(task_id, now)},
    }


def _finish(
    obj: ObjectRef,
    job: Job,
    keys: OutputKeys,
    text: str,
    *,
    store: ObjectStore,
    settings: OcrSettings,
    now: str,
) -> Job:
    encoded = text.encode("utf-8")
    store.write(obj.bucket, keys.text, encoded, content_type="text/plain; charset=utf-8")
    tasks = {
        name: {**task, "job_seconds": _seconds_between(task["submitted_at"], task["completed_at"])}
        for name, task in job["tasks"].items()
        if task.get("completed_at")
    }
    first_submitted = min(task["submitted_at"] for task in tasks.values())
    binarized_key = keys.binarized if Stage.BINARIZE.value in tasks else None
    record = {
        "status": "SUCCEEDED",
        "bucket": obj.bucket,
        "input": {"key": obj.key, "version_id": obj.version_id, "etag": obj.etag},
        "outputs": {"text": keys.text, "binarized": binarized_key, "result": keys.result},
        "mode": job["mode"],
        "tasks": tasks,
        "polls": job["total_polls"],
        "in_lambda_polls": int(job.get("in_lambda_polls", 0)),
        "timings": {
            "first_submitted_at": first_submitted,
            "finished_at": now,
            "ocr_seconds": _seconds_between(first_submitted, now),
        },
        "engine": {
            "api": "Aspose.OCR Cloud v5",
            "base_url": settings.OCR_API_BASE_URL,
            "language": settings.LANGUAGE,
        },
        "settings": {
            "binarization_mode": settings.BINARIZATION_MODE.value,
            "first_wait_seconds": settings.FIRST_WAIT_SECONDS,
            "seconds_per_megapixel": settings.SECONDS_PER_MEGAPIXEL,
            "max_wait_seconds": settings.MAX_WAIT_SECONDS,
            "poll_backoff_rate": settings.POLL_BACKOFF_RATE,
            "max_polls": settings.MAX_POLLS,
            "in_lambda_poll_seconds": settings.IN_LAMBDA_POLL_SECONDS,
            "in_lambda_poll_interval_seconds": settings.IN_LAMBDA_POLL_INTERVAL_SECONDS,
        },
        "sizes": {
            **job["image"],
            "binarized_bytes": job.get("binarized_bytes"),
            "text_bytes": len(encoded),
            "text_chars": len(text),
        },
    }
    store.write(obj.bucket, keys.result, json_bytes(record), content_type="application/json")
    # A failure record of an earlier attempt (reprocessed, or the object uploaded again) is now stale.
    store.delete(obj.bucket, keys.failed)
    return {**job, "action": "done", "tasks": tasks, "outputs": record["outputs"], "wait_seconds": 0}


def json_bytes(record: dict[str, Any]) -> bytes:
    """A record as indented UTF-8 JSON."""
    return json.dumps(record, indent=2, sort_keys=False, ensure_ascii=False).encode("utf-8")
