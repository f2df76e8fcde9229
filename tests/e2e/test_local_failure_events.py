"""Timed-out and aborted executions leave a failure record locally, through the template's event rule."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.executions import ExecutionRecord
from local_stack.stack import LocalStack

IMAGES = Path(__file__).resolve().parents[2] / "events" / "images"
EXECUTION_TIMEOUT_SECONDS = 3
STOPPED_EXECUTION_TIMEOUT_SECONDS = 30
"""For the tests that stop an execution: long enough that a loaded machine's stop never arrives after
the deadline (the stop is sent as soon as the execution runs, so the test does not wait for it)."""
DEADLINE = 30.0
# The OCR service keeps every task Processing far longer than the execution may run.
SLOW_TASKS = {"delay_seconds": 60}

pytestmark = pytest.mark.slow


@pytest.fixture
def execution_timeout() -> int:
    return EXECUTION_TIMEOUT_SECONDS


@pytest.fixture
def stack(execution_timeout: int) -> Iterator[LocalStack]:
    overrides = {
        "ExecutionTimeoutSeconds": str(execution_timeout),
        "FirstWaitSeconds": "1",
        "MaxWaitSeconds": "1",
        "MaxPolls": "100",
        # The Wait loop is what these tests time out; a Submit polling in-Lambda for as long as the
        # execution may run would hold the only runner slot through the abort.
        "InLambdaPollSeconds": "0",
    }
    # ExecutionTimeoutSeconds below its MinValue (60): checks off to see a timeout in seconds.
    with LocalStack.start(param_overrides=overrides, check_parameters=False) as running:
        running.ocr.set_faults(**SLOW_TASKS)
        yield running


def _read(stack: LocalStack, key: str) -> bytes:
    body: bytes = stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    return body


def _running(stack: LocalStack, key: str) -> ExecutionRecord:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        (record,) = stack.records([key])
        if record.status == "RUNNING":
            return record
        time.sleep(0.1)
    raise AssertionError(f"{key} did not start running within {DEADLINE} s")


def test_execution_over_its_timeout_writes_timed_out_failure_record(stack: LocalStack) -> None:
    # GIVEN an image whose OCR task outlasts the execution timeout
    data = (IMAGES / "clean.png").read_bytes()
    key = stack.upload_bytes(data, "incoming/events/slow.png")
    etag = stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"]

    # WHEN the pipeline runs until the execution is over
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN Step Functions timed it out (with a stop time), and the status-change event wrote
    # failed/….json saying so
    assert record.status == "TIMED_OUT"
    assert record.seconds is not None
    failure = json.loads(_read(stack, "failed/events/slow.png.json"))
    assert failure["status"] == "TIMED_OUT"
    assert "TIMED_OUT" in failure["error_type"]
    assert failure["execution"] == record.name

    # THEN the original is the same object, byte for byte
    assert _read(stack, key) == data
    assert stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"] == etag


@pytest.mark.parametrize("execution_timeout", [STOPPED_EXECUTION_TIMEOUT_SECONDS])
def test_aborted_execution_writes_aborted_failure_record(stack: LocalStack) -> None:
    # GIVEN a running execution
    key = stack.upload(IMAGES / "clean.png", "incoming/events/aborted.png")
    running = _running(stack, key)
    assert running.execution_arn is not None

    # WHEN an operator stops it
    stack.sfn.stop_execution(executionArn=running.execution_arn, error="Operator", cause="cancelled by hand")
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN it is ABORTED and failed/….json records it, once
    assert record.status == "ABORTED"
    failure = json.loads(_read(stack, "failed/events/aborted.png.json"))
    assert (failure["status"], failure["execution"]) == ("ABORTED", record.name)
    assert [d.ok for d in stack.deliveries if d.execution_arn == record.execution_arn] == [True]


@pytest.mark.parametrize("execution_timeout", [STOPPED_EXECUTION_TIMEOUT_SECONDS])
def test_executions_aborted_by_stack_stop_deliver_no_event(stack: LocalStack) -> None:
    # GIVEN a running execution
    key = stack.upload(IMAGES / "clean.png", "incoming/events/left-running.png")
    _running(stack, key)

    # WHEN the stack is stopped (which aborts it)
    stack.stop()

    # THEN no status-change event was delivered and the failure recorder never ran
    assert stack.deliveries == []
    assert not [i for i in stack.invocations if "RecordFailure" in i.function_name]
