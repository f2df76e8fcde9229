"""Poll step: check the current OCR task once and advance the job (chain, finish, or wait again)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ocr_pipeline.domain.job import check
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.handlers._ocr import build_ocr_client, build_store, utc_now
from ocr_pipeline.settings import OcrSettings, load_settings

settings = load_settings(OcrSettings, os.environ)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
store = build_store()
ocr = build_ocr_client(settings)


@logger.inject_lambda_context(correlation_id_path="execution")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event ``{"object": {...}, "job": {...}, "execution": name}``; returns the advanced job."""
    obj = ObjectRef.from_payload(event["object"])
    before = event["job"]
    logger.append_keys(key=obj.key, stage=before["stage"], task_id=before["task_id"])
    job = check(obj, before, store=store, ocr=ocr, settings=settings, clock=utc_now)
    metrics.add_metric(name="Polls", unit=MetricUnit.Count, value=1)
    if job["action"] == "done":
        seconds = sum(task.get("job_seconds", 0.0) for task in job["tasks"].values())
        metrics.add_metric(name="Completed", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="JobSeconds", unit=MetricUnit.Seconds, value=seconds)
        logger.info("completed", outputs=job["outputs"], polls=job["total_polls"], job_seconds=seconds)
    elif job["task_id"] != before["task_id"]:
        metrics.add_metric(name="Submitted", unit=MetricUnit.Count, value=1)
        logger.info("submitted", next_stage=job["stage"], next_task_id=job["task_id"])
    else:
        logger.info("pending", polls=job["polls"], wait_seconds=job["wait_seconds"])
    return job
