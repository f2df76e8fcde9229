"""The fixture template on moto: S3 → Lambda → Step Functions → Lambda through the hook (no OCR service)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_stack.executions import history_events
from local_stack.runner import RunnerOptions
from local_stack.stack import LocalStack

FIXTURE = Path(__file__).parent / "fixtures" / "template.yaml"


@pytest.fixture(scope="module")
def stack(stub_ocr: object) -> Iterator[LocalStack]:
    options = RunnerOptions(retry_delays=(0.2, 0.2))
    with LocalStack.start(template=FIXTURE, ocr=stub_ocr, lambda_options=options) as running:
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


def test_failing_s3_triggered_handler_is_retried_and_logged_not_swallowed(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an object the S3-triggered handler refuses
    # WHEN it is uploaded
    with caplog.at_level("ERROR", logger="local_stack.runner"):
        stack.upload_bytes(b"x", "incoming/explode.txt")
        assert stack.wait_idle(30)

    # THEN every attempt (the first and Lambda's 2 asynchronous retries) failed in the log, nothing started
    failures = [r for r in caplog.records if r.getMessage().startswith("lambda invocation failed")]
    assert len(failures) == 3
    assert stack.records(["incoming/explode.txt"])[0].status == "NOT_STARTED"


def test_upload_returns_before_the_notified_function_has_run(stack: LocalStack) -> None:
    # GIVEN an object whose S3-triggered handler takes 2 s
    started = time.monotonic()

    # WHEN it is uploaded
    key = stack.upload_bytes(b"x", "incoming/slow.txt")

    # THEN the upload returned at once, and the execution started later
    assert time.monotonic() - started < 1.5
    (record,) = stack.wait_all(deadline_seconds=30, keys=[key])
    assert record.status == "SUCCEEDED"


def test_sync_invoke_beyond_reserved_concurrency_answers_429_too_many_requests(stack: LocalStack) -> None:
    # GIVEN the function with ReservedConcurrentExecutions 1, busy
    client = boto3.client(
        "lambda",
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
    )
    name = stack.spec.function("SlowFunction").name
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = pool.submit(client.invoke, FunctionName=name, Payload=json.dumps({"seconds": 1.5}))
        time.sleep(0.5)
        # WHEN another synchronous invoke arrives
        with pytest.raises(ClientError) as raised:
            client.invoke(FunctionName=name, Payload="{}")
        busy.result(timeout=30)

    # THEN the Invoke API refused it as Lambda does
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "TooManyRequestsException",
        429,
    )


def test_throttled_task_is_retried_by_the_state_machine_retry(stack: LocalStack) -> None:
    # GIVEN a workflow whose only task calls the function with ReservedConcurrentExecutions 1
    machine = stack.spec.state_machine("ThrottledWorkflow").arn
    names = [f"throttle-{i}-{time.time_ns()}" for i in range(2)]

    # WHEN two executions run it at the same time
    arns = [
        stack.sfn.start_execution(stateMachineArn=machine, name=n, input='{"seconds": 1.5}')["executionArn"]
        for n in names
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = [stack.sfn.describe_execution(executionArn=a)["status"] for a in arns]
        if "RUNNING" not in statuses:
            break
        time.sleep(0.25)

    # THEN both succeeded, one of them after a Lambda.TooManyRequestsException its Retry matched
    assert statuses == ["SUCCEEDED", "SUCCEEDED"]
    errors = [
        event["lambdaFunctionFailedEventDetails"]["error"]
        for arn in arns
        for event in history_events(stack.sfn, arn)
        if event["type"] == "LambdaFunctionFailed"
    ]
    assert errors and set(errors) == {"Lambda.TooManyRequestsException"}


def test_async_invoke_that_keeps_failing_lands_in_the_dead_letter_queue(stack: LocalStack) -> None:
    # GIVEN the failing function (MaximumRetryAttempts 1, DeadLetterQueue the fixture's queue, an
    # on-failure destination)
    name = stack.spec.function("FailFunction").name

    # WHEN it is invoked asynchronously
    response = stack.clients["lambda"].invoke(FunctionName=name, InvocationType="Event", Payload='{"n": 7}')
    assert response["StatusCode"] == 202
    assert stack.wait_idle(30)

    # THEN the event is in the queue, with Lambda's error attributes
    sqs = stack.clients["sqs"]
    url = sqs.get_queue_url(QueueName=stack.spec.resource("Queue").name)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1)
    (message,) = messages["Messages"]
    assert json.loads(message["Body"]) == {"n": 7}
    assert message["MessageAttributes"]["ErrorCode"]["StringValue"] == "FixtureError"
    # AND the on-failure destination holds Lambda's invocation record of it
    url = sqs.get_queue_url(QueueName=stack.spec.resource("FailureDestination").name)["QueueUrl"]
    (record,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    body = json.loads(record["Body"])
    assert body["requestPayload"] == {"n": 7}
    assert body["requestContext"]["condition"] == "RetriesExhausted"
    assert body["requestContext"]["functionArn"].startswith(stack.spec.function("FailFunction").arn)


def test_dynamodb_table_of_the_template_serves_the_state_machine_integration(stack: LocalStack) -> None:
    # GIVEN the fixture's table and a workflow putting an item through arn:aws:states:::dynamodb:putItem
    table = stack.spec.tables[0].name
    machine = stack.spec.state_machine("TableWorkflow").arn

    # WHEN it runs
    arn = stack.sfn.start_execution(stateMachineArn=machine, name=f"t-{time.time_ns()}", input='{"id": "a"}')[
        "executionArn"
    ]
    deadline = time.monotonic() + 30
    while (
        stack.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline
    ):
        time.sleep(0.2)

    # THEN it succeeded and the item is in the table
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    item = stack.clients["dynamodb"].get_item(TableName=table, Key={"id": {"S": "a"}})
    assert item["Item"]["id"] == {"S": "a"}


def test_resource_types_not_emulated_are_listed_not_fatal(stack: LocalStack) -> None:
    # GIVEN / WHEN the fixture (a KMS key, an SNS topic, a log group) is up
    # THEN those are listed as not emulated
    assert {"Key": "AWS::KMS::Key", "Alarms": "AWS::SNS::Topic"}.items() <= stack.spec.ignored.items()


def test_memory_size_is_given_to_the_handler_and_reported(stack: LocalStack) -> None:
    # GIVEN the function with MemorySize 512
    name = stack.spec.function("WhoAmIFunction").name

    # WHEN it is invoked
    response = stack.clients["lambda"].invoke(FunctionName=name, Payload="{}")

    # THEN its context says 512 MB, and the log has Lambda's REPORT line with the memory used
    assert json.loads(response["Payload"].read())["memory"] == 512
    record = next(r for r in reversed(stack.invocations) if r.function_name == name)
    assert (record.memory_size_mb, record.max_memory_mb > 0) == (512, True)
    assert "Memory Size: 512 MB\tMax Memory Used:" in stack.lambda_log.read_text(encoding="utf-8")


def test_endpoint_variables_stay_set_between_invocations(stack: LocalStack) -> None:
    # GIVEN the stack after a handler ran
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
    assert stack.wait_idle(10)

    # THEN no function ran
    assert len(stack.invocations) == before


def test_multipart_upload_is_notified_once_as_s3_does(stack: LocalStack) -> None:
    # GIVEN a matching object uploaded in parts, as `aws s3 cp` and boto3 upload large files
    def notified() -> int:
        return sum(
            1
            for i in list(stack.invocations)
            if i.function_name.endswith("StartFunction") and i.invocation_type == "Event"
        )

    before = notified()
    key = "incoming/multipart.txt"
    upload = stack.s3.create_multipart_upload(Bucket=stack.bucket, Key=key)["UploadId"]
    part = stack.s3.upload_part(Bucket=stack.bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"hello")

    # WHEN the upload is completed
    stack.s3.complete_multipart_upload(
        Bucket=stack.bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    (record,) = stack.wait_all(deadline_seconds=30, keys=[key])
    assert stack.wait_idle(30)

    # THEN the function was notified once (ObjectCreated:CompleteMultipartUpload; moto also sends
    # ObjectCreated:Put from inside the completion, which S3 does not), and the execution ran
    assert notified() - before == 1
    assert record.status == "SUCCEEDED"


def test_second_stack_in_same_process_is_refused(stack: LocalStack, stub_ocr: object) -> None:
    # GIVEN a running stack
    # WHEN / THEN starting another one fails clearly (moto's state is process-wide)
    from local_stack.stack import StackError

    with pytest.raises(StackError):
        LocalStack.start(template=FIXTURE, ocr=stub_ocr)


def test_object_bodies_over_the_memory_bound_are_kept_on_disk(stack: LocalStack) -> None:
    # GIVEN the stack's bucket and a body larger than the local stack's S3 memory bound (16 KiB)
    from moto.s3.models import s3_backends

    body = os.urandom(1024 * 1024)

    # WHEN it is put (outside the notification prefix) and read back
    stack.s3.put_object(Bucket=stack.bucket, Key="other/large.bin", Body=body)
    read = stack.s3.get_object(Bucket=stack.bucket, Key="other/large.bin")["Body"].read()

    # THEN it reads back whole, and moto holds it in a temporary file rather than in memory
    # (a SpooledTemporaryFile that has rolled over to disk)
    assert read == body
    stored = next(
        backend.buckets[stack.bucket].keys["other/large.bin"]
        for region_backends in s3_backends.values()
        for backend in region_backends.values()
        if stack.bucket in backend.buckets
    )
    assert stored._value_buffer._rolled


def test_server_keeps_connections_and_metadata_spelling(stack: LocalStack) -> None:
    # GIVEN an object with S3 user metadata spelled with an underscore, and one HTTP connection
    import http.client
    from urllib.parse import urlsplit

    stack.s3.put_object(Bucket=stack.bucket, Key="other/meta.txt", Body=b"x", Metadata={"scan_id": "7"})
    endpoint = urlsplit(stack.endpoint)
    connection = http.client.HTTPConnection(str(endpoint.hostname), endpoint.port, timeout=10)
    try:
        # WHEN two unsigned requests are sent on it (refused, 403, as AWS refuses them)
        statuses, sockets = [], []
        for _ in range(2):
            connection.request("HEAD", f"/{stack.bucket}/other/meta.txt")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            sockets.append(connection.sock)
    finally:
        connection.close()

    # THEN both answers come on the same connection (keep-alive), and the metadata keeps its spelling
    assert statuses == [403, 403] and sockets[0] is not None and sockets[0] is sockets[1]
    assert stack.s3.head_object(Bucket=stack.bucket, Key="other/meta.txt")["Metadata"] == {"scan_id": "7"}


def test_waiting_reads_executions_in_process_not_through_list_executions(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stack whose ListExecutions and DescribeExecution requests are counted
    calls: list[str] = []
    events = stack.sfn.meta.events
    hook = "before-call.sfn.*"

    def count(event_name: str, **_: object) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    events.register(hook, count)
    try:
        # WHEN three objects are uploaded and waited for, polling their records many times
        keys = [stack.upload_bytes(b"hello", f"incoming/inproc-{i}.txt") for i in range(3)]
        records = stack.wait_all(deadline_seconds=30, keys=keys)
        running = stack.running()
    finally:
        events.unregister(hook, count)

    # THEN every execution is found with its key and nothing is left running
    assert [r.status for r in records] == ["SUCCEEDED"] * 3
    assert [r.key for r in records] == keys
    assert running == 0
    # AND no poll listed the state machine's executions over the API: only each finished execution
    # is described once (with its history), however many polls the wait took
    assert "ListExecutions" not in calls
    assert calls.count("DescribeExecution") == 3
