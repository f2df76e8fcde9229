"""The fixture template on moto: S3 → Lambda → Step Functions → Lambda through the hook (no OCR service)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.stack import LocalStack

FIXTURE = Path(__file__).parent / "fixtures" / "template.yaml"


class StubService:
    """Stands in for the OCR service: the fixture's handlers never call it."""

    base_url = "http://127.0.0.1:9"
    client_id = "stub"
    client_secret = "stub"

    def stop(self) -> None:
        return None


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack.start(template=FIXTURE, ocr=StubService()) as running:
        yield running


def test_upload_runs_s3_handler_and_state_machine_to_success(stack: LocalStack) -> None:
    # GIVEN the fixture stack
    # WHEN a matching object is uploaded
    key = stack.upload_bytes(b"hello", "incoming/a.txt")
    (record,) = stack.wait_all(deadline_seconds=30, keys=[key])

    # THEN its execution succeeded through the echo, wait and check states
    assert record.status == "SUCCEEDED"
    assert record.polls == 1
    assert record.transitions == 5


def test_task_exception_is_caught_by_name_in_the_state_machine(stack: LocalStack) -> None:
    # GIVEN an object whose execution runs the failing task
    # WHEN it is uploaded
    key = stack.upload_bytes(b"x", "incoming/fail.txt")
    (record,) = stack.wait_all(deadline_seconds=30, keys=[key])

    # THEN the FixtureError raised in the handler matched the Catch by its type name
    assert (record.status, record.error) == ("FAILED", "Caught")


def test_failing_s3_triggered_handler_is_logged_not_swallowed(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an object the S3-triggered handler refuses
    # WHEN it is uploaded (moto ignores the Lambda's failure in put_object)
    with caplog.at_level("ERROR", logger="local_stack.lambda_hook"):
        stack.upload_bytes(b"x", "incoming/explode.txt")

    # THEN the failure is in the log and no execution started
    assert any("FixtureError" in r.getMessage() for r in caplog.records)
    assert stack.records(["incoming/explode.txt"])[0].status == "NOT_STARTED"


def test_endpoint_variables_stay_set_between_invocations(stack: LocalStack) -> None:
    # GIVEN the stack after a handler ran (its per-invocation environment has been restored)
    key = stack.upload_bytes(b"hello", "incoming/env.txt")
    stack.wait_all(deadline_seconds=30, keys=[key])

    # WHEN moto's own threads read the endpoint variables (they build boto3 clients at any time)
    # THEN the variables are still there, pointing at the stack
    assert os.environ.get("AWS_ENDPOINT_URL") == stack.endpoint
    assert os.environ.get("MOTO_PORT") == str(stack.moto.port)


def test_object_outside_the_filter_starts_nothing(stack: LocalStack) -> None:
    # GIVEN / WHEN an object outside the notification's prefix
    before = len(stack.invocations)
    stack.upload_bytes(b"x", "elsewhere/a.txt")

    # THEN no function ran
    assert len(stack.invocations) == before


def test_second_stack_in_same_process_is_refused(stack: LocalStack) -> None:
    # GIVEN a running stack
    # WHEN / THEN starting another one fails clearly (moto's state is process-wide)
    from local_stack.stack import StackError

    with pytest.raises(StackError):
        LocalStack.start(template=FIXTURE, ocr=StubService())
