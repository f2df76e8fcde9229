"""The recognition function: submits ``RecognizeImage`` of the last preprocessed image (or the upload),
polls it, and writes the text and the result record."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from ocr_pipeline.domain.job import job_config
from ocr_pipeline.domain.models import Stage, StageStatus
from ocr_pipeline.domain.records import seconds_between
from ocr_pipeline.handlers._ocr import build_ocr_client, build_store, utc_now
from ocr_pipeline.handlers._stage import run_stage
from ocr_pipeline.handlers.events import StageEvent
from ocr_pipeline.settings import OcrSettings, load_settings

settings = load_settings(OcrSettings, os.environ)
config = job_config(settings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
store = build_store()
ocr = build_ocr_client(settings)


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``Submit recognition`` or ``Check recognition``; returns the job (``next: done`` when written)."""
    parsed = parse(event=event, model=StageEvent)
    if parsed.stage is not Stage.RECOGNIZE:
        raise ValueError(f"stage {parsed.stage.value} is not recognition")
    job = run_stage(parsed, store=store, ocr=ocr, cfg=config, clock=utc_now, logger=logger, metrics=metrics)
    if job.status is StageStatus.COMPLETED:
        first = min(task.submitted_at for task in job.tasks.values())
        finished = job.task(Stage.RECOGNIZE).completed_at or first
        seconds = seconds_between(first, finished)
        metrics.add_metric(name="Completed", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="JobSeconds", unit=MetricUnit.Seconds, value=seconds)
        metrics.add_metric(name="ApiCalls", unit=MetricUnit.Count, value=job.calls.total)
        logger.info("completed", calls=job.calls.total, polls=job.total_polls, job_seconds=seconds)
    return job.model_dump(mode="json")
