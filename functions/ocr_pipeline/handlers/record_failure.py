"""Failure path: write ``failed/<input key>.json`` for a caught error, a timed-out or an aborted execution."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ocr_pipeline.adapters.admission_table import DynamoSlotTable, StepFunctionsTokens
from ocr_pipeline.domain import admission
from ocr_pipeline.domain.failure import record_failure
from ocr_pipeline.errors import AdmissionUnavailable
from ocr_pipeline.handlers._ocr import build_store, utc_now
from ocr_pipeline.handlers.events import parse_failure
from ocr_pipeline.settings import AdmissionSettings, FailureSettings, load_settings

settings = load_settings(FailureSettings, os.environ)
slots = load_settings(AdmissionSettings, os.environ)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
store = build_store()
table = DynamoSlotTable(boto3.client("dynamodb"), slots.ADMISSION_TABLE)
tokens = StepFunctionsTokens(boto3.client("stepfunctions"))


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Write the failure record and give the execution's slot back; return the record's key, the error
    type and the stage that failed."""
    failure = parse_failure(event)
    logger.set_correlation_id(failure.execution)
    outcome = record_failure(
        failure.state,
        execution=failure.execution,
        status=failure.status,
        store=store,
        layout=settings,
        clock=utc_now,
    )
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
    logger.warning(
        "failed",
        key=failure.state.object.key,
        status=failure.status,
        stage=outcome.stage,
        error_type=outcome.error_type,
        failed_key=outcome.failed_key,
    )
    released = release_slot(failure.execution)
    return {
        "released": released,
        "failed_key": outcome.failed_key,
        "error_type": outcome.error_type,
        "stage": outcome.stage,
    }


def release_slot(execution: str) -> bool:
    """Give the slot back and hand it on; if the table is unreachable, the reconciler frees it later."""
    try:
        released, _ = admission.release(
            execution, table=table, tokens=tokens, limit=slots.API_CONCURRENCY, clock=utc_now
        )
    except AdmissionUnavailable as exc:
        logger.warning("slot left to the reconciler", error=str(exc))
        return False
    return released
