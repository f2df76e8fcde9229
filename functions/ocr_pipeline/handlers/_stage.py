"""What the two stage functions share: running one stage event, with logs and metrics per stage."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ocr_pipeline.domain.job import JobConfig, poll_stage, submit_stage
from ocr_pipeline.domain.models import Job, StageStatus
from ocr_pipeline.domain.ports import Clock, ObjectStore, OcrApi
from ocr_pipeline.handlers.events import StageEvent


def run_stage(
    event: StageEvent,
    *,
    store: ObjectStore,
    ocr: OcrApi,
    cfg: JobConfig,
    clock: Clock,
    logger: Logger,
    metrics: Metrics,
) -> Job:
    """Submit (``action: submit``) or poll (``action: poll``) the event's stage; return the new job."""
    stage = event.stage
    logger.append_keys(key=event.object.key, stage=stage.value)
    step = submit_stage if event.action == "submit" else poll_stage
    job = step(
        event.object, event.job, stage, execution=event.execution, store=store, ocr=ocr, cfg=cfg, clock=clock
    )
    task = job.task(stage)
    if event.action == "submit":
        metrics.add_metric(
            name="Submitted" if not task.resumed else "Resumed", unit=MetricUnit.Count, value=1
        )
        logger.info("submitted", task_id=task.task_id, resumed=task.resumed, wait_seconds=job.wait_seconds)
    else:
        metrics.add_metric(name="Polls", unit=MetricUnit.Count, value=1)
    if job.status is StageStatus.COMPLETED:
        logger.info("stage completed", task_id=task.task_id, next=str(job.next), calls=task.calls.total)
    else:
        logger.info("pending", task_id=task.task_id, polls=task.polls, wait_seconds=job.wait_seconds)
    return job
