"""Failure path: write ``failed/<rel>.json`` for a caught error, a timed-out or an aborted execution."""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ocr_pipeline.domain.failure import record_failure
from ocr_pipeline.handlers._ocr import build_store, utc_now
from ocr_pipeline.settings import FailureSettings, load_settings

settings = load_settings(FailureSettings, os.environ)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
store = build_store()


def failure_of(event: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """``(state, execution name, status)`` from a ``Catch`` payload or an EventBridge status-change event."""
    if "detail" in event:
        detail = event["detail"]
        state = json.loads(detail.get("input") or "{}")
        state.setdefault(
            "error", {"Error": f"States.{detail.get('status', 'FAILED')}", "Cause": detail.get("cause")}
        )
        return state, str(detail.get("name", "")), str(detail.get("status", "FAILED"))
    return event["state"], str(event.get("execution", "")), "FAILED"


@logger.inject_lambda_context(correlation_id_path="execution")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Write the failure record; return its key and the error type."""
    state, execution, status = failure_of(event)
    logger.set_correlation_id(execution)
    outcome = record_failure(
        state, execution=execution, status=status, store=store, layout=settings, clock=utc_now
    )
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
    logger.warning("failed", key=state.get("object", {}).get("key"), status=status, **outcome)
    return outcome
