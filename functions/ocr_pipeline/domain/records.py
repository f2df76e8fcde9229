"""The result record of a finished job (the failure record is in ``failure.py``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocr_pipeline.domain.keys import OutputKeys
from ocr_pipeline.domain.models import (
    Engine,
    Job,
    ObjectVersion,
    Outputs,
    ResultRecord,
    Sizes,
    Stage,
    StageReport,
    Timings,
)
from ocr_pipeline.domain.start import ObjectRef

if TYPE_CHECKING:
    from ocr_pipeline.domain.job import JobConfig

API_NAME = "Aspose.OCR Cloud v5"


def json_bytes(record: dict[str, Any]) -> bytes:
    """A record as indented UTF-8 JSON."""
    return json.dumps(record, indent=2, sort_keys=False, ensure_ascii=False).encode("utf-8")


def seconds_between(start: str, end: str) -> float:
    """Seconds from one ISO time to another, to the millisecond."""
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def result_record(
    obj: ObjectRef, job: Job, keys: OutputKeys, text: str, *, execution: str, cfg: JobConfig, finished_at: str
) -> ResultRecord:
    """What ``results/<input key>.json`` says about a job whose recognition completed."""
    stages: dict[Stage, StageReport] = {}
    for stage, task in job.tasks.items():
        completed = task.completed_at or finished_at
        stages[stage] = StageReport(
            operation=task.operation,
            task_id=task.task_id,
            submitted_at=task.submitted_at,
            completed_at=completed,
            job_seconds=seconds_between(task.submitted_at, completed),
            polls=task.polls,
            in_lambda_polls=task.in_lambda_polls,
            calls=task.calls,
            resumed=task.resumed,
            output_key=task.output_key,
            output_bytes=task.output_bytes,
        )
    first = min(report.submitted_at for report in stages.values())
    images = {stage: task.output_key for stage, task in job.tasks.items() if task.output_key}
    binarized = job.tasks.get(Stage.BINARIZE)
    binarized_bytes = binarized.output_bytes if binarized else None
    return ResultRecord(
        bucket=obj.bucket,
        input=ObjectVersion(key=obj.key, version_id=obj.version_id, etag=obj.etag),
        execution=execution,
        outputs=Outputs(
            text=keys.text,
            result=keys.result,
            binarized=binarized.output_key if binarized else None,
            images=images,
        ),
        mode=job.mode,
        steps=job.steps,
        stages=stages,
        calls=job.calls,
        polls=sum(task.polls for task in job.tasks.values()),
        in_lambda_polls=sum(task.in_lambda_polls for task in job.tasks.values()),
        timings=Timings(
            first_submitted_at=first, finished_at=finished_at, ocr_seconds=seconds_between(first, finished_at)
        ),
        engine=Engine(api=API_NAME, base_url=cfg.base_url, language=cfg.language),
        settings=cfg.summary,
        sizes=Sizes(
            **job.image.model_dump(),
            binarized_bytes=binarized_bytes,
            text_bytes=len(text.encode("utf-8")),
            text_chars=len(text),
        ),
    )
