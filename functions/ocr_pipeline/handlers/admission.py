"""Admission slots: ``acquire`` (resumes the execution when a slot is its), ``release``, ``reconcile``.

The state machine calls ``acquire`` through ``lambda:invoke.waitForTaskToken`` and ``release`` after the
last stage; the failure recorder releases on the failure path; a schedule runs ``reconcile``. Never
calls the OCR API.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from ocr_pipeline.adapters.admission_table import DynamoSlotTable, StepFunctionsTokens
from ocr_pipeline.domain import admission
from ocr_pipeline.handlers._ocr import utc_now
from ocr_pipeline.handlers.events import AcquireEvent, AdmissionEvent, ReleaseEvent
from ocr_pipeline.settings import AdmissionSettings, load_settings

settings = load_settings(AdmissionSettings, os.environ)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
table = DynamoSlotTable(boto3.client("dynamodb"), settings.ADMISSION_TABLE)
tokens = StepFunctionsTokens(boto3.client("stepfunctions"))


def _dispatched(result: admission.Dispatched) -> dict[str, Any]:
    if result.stale:
        logger.info("slots of ended executions given back", executions=list(result.stale))
    metrics.add_metric(name="SlotsGranted", unit=MetricUnit.Count, value=len(result.granted))
    return {"granted": list(result.granted), "stale": list(result.stale)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one admission action; return what it did."""
    parsed = parse(event=event, model=AdmissionEvent).root
    limit = settings.API_CONCURRENCY
    if isinstance(parsed, AcquireEvent):
        logger.set_correlation_id(parsed.execution)
        result = admission.acquire(
            parsed.execution,
            parsed.execution_arn,
            parsed.token,
            table=table,
            tokens=tokens,
            limit=limit,
            clock=utc_now,
        )
        logger.info("queued for a slot", admitted=parsed.execution in result.granted)
        return {"action": "acquire", **_dispatched(result)}
    if isinstance(parsed, ReleaseEvent):
        logger.set_correlation_id(parsed.execution)
        released, result = admission.release(
            parsed.execution, table=table, tokens=tokens, limit=limit, clock=utc_now
        )
        logger.info("slot released", held=released)
        return {"action": "release", "released": released, **_dispatched(result)}
    report = admission.reconcile(table=table, tokens=tokens, executions=tokens, limit=limit, clock=utc_now)
    metrics.add_metric(name="SlotsHeld", unit=MetricUnit.Count, value=report.held)
    metrics.add_metric(name="ImagesWaiting", unit=MetricUnit.Count, value=report.waiting)
    metrics.add_metric(name="OldestWaitSeconds", unit=MetricUnit.Seconds, value=report.oldest_wait_seconds)
    metrics.add_metric(name="LeakedSlotsReleased", unit=MetricUnit.Count, value=len(report.released))
    if report.released:
        logger.warning("leaked slots released", executions=list(report.released))
    return {
        "action": "reconcile",
        "held": report.held,
        "released": list(report.released),
        "waiting": report.waiting,
        "waiting_complete": report.waiting_complete,
        "oldest_wait_seconds": report.oldest_wait_seconds,
        **_dispatched(report.dispatched),
    }
