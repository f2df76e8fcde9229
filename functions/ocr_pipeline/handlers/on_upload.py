"""S3 ObjectCreated → one Standard execution per object version (never calls the OCR API)."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from ocr_pipeline.adapters.workflow import StepFunctionsStarter
from ocr_pipeline.domain.start import ObjectRef, StartOutcome, start_executions
from ocr_pipeline.handlers._ocr import utc_now
from ocr_pipeline.handlers.events import S3Notification
from ocr_pipeline.settings import OnUploadSettings, load_settings

settings = load_settings(OnUploadSettings, os.environ)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
workflow = StepFunctionsStarter(boto3.client("stepfunctions"), settings.STATE_MACHINE_ARN)


def objects_of(event: dict[str, Any]) -> list[ObjectRef]:
    """The created objects named by an S3 notification, keys decoded per record; other records ignored."""
    return parse(event=event, model=S3Notification).created_objects()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start an execution per acceptable object; return counts and the execution names."""
    results = start_executions(
        objects_of(event),
        workflow=workflow,
        input_prefix=settings.INPUT_PREFIX,
        output_prefixes=settings.output_prefixes,
        suffixes=settings.suffixes,
        clock=utc_now,
    )
    for result in results:
        if result.outcome is StartOutcome.SKIPPED:
            logger.info("skipped", key=result.key, reason=str(result.reason))
        elif result.outcome is StartOutcome.DUPLICATE:
            logger.info("duplicate", key=result.key, execution=result.execution_name)
        else:
            logger.info("started", key=result.key, execution=result.execution_name)
    started = sum(r.outcome is StartOutcome.STARTED for r in results)
    metrics.add_metric(name="ImagesStarted", unit=MetricUnit.Count, value=started)
    return {
        "started": started,
        "duplicates": sum(r.outcome is StartOutcome.DUPLICATE for r in results),
        "skipped": sum(r.outcome is StartOutcome.SKIPPED for r in results),
        "executions": [r.execution_name for r in results if r.execution_name],
    }
