"""First state: check the image, choose the binarization mode, submit the first OCR task.

With ``IN_LAMBDA_POLL_SECONDS`` > 0 it then polls the task for that long and finishes short jobs itself.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ocr_pipeline.domain.job import settle, submit
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
    """Event ``{"object": {...}, "execution": name}``; returns the job (``action`` wait or done)."""
    obj = ObjectRef.from_payload(event["object"])
    logger.append_keys(key=obj.key)
    job = submit(obj, store=store, ocr=ocr, settings=settings, clock=utc_now)
    metrics.add_metric(name="Submitted", unit=MetricUnit.Count, value=1)
    logger.info(
        "submitted",
        stage=job["stage"],
        task_id=job["task_id"],
        mode=job["mode"]["effective"],
        wait_seconds=job["wait_seconds"],
    )
    job = settle(obj, job, store=store, ocr=ocr, settings=settings, clock=utc_now)
    polls = int(job.get("in_lambda_polls", 0))
    if polls:
        metrics.add_metric(name="InLambdaPolls", unit=MetricUnit.Count, value=polls)
    if job["action"] == "done":
        seconds = sum(task.get("job_seconds", 0.0) for task in job["tasks"].values())
        metrics.add_metric(name="Completed", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="JobSeconds", unit=MetricUnit.Seconds, value=seconds)
        logger.info("completed", outputs=job["outputs"], in_lambda_polls=polls, job_seconds=seconds)
    return job
