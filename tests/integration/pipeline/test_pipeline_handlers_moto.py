"""Handlers against moto's S3, Step Functions and Secrets Manager, with the OCR API scripted."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator

import pytest
import responses

from ocr_pipeline.errors import ImageTooLarge, OcrApiThrottled
from tests.integration.pipeline.conftest import Aws
from tests.unit.pipeline.pipeline_support import BUCKET, image_bytes, load_event

BASE = "http://127.0.0.1:9"
TASK_B = "11111111-1111-1111-1111-111111111111"
TASK_R = "22222222-2222-2222-2222-222222222222"


def _ocr_response(task: str, status: str, result: tuple[str, bytes] | None = None) -> str:
    results = [{"type": result[0], "data": base64.b64encode(result[1]).decode()}] if result else None
    return json.dumps(
        {"id": task, "taskStatus": status, "responseStatusCode": "Ok", "results": results, "error": None}
    )


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{BASE}/connect/token", json={"access_token": "t", "expires_in": 3600, "token_type": "Bearer"}
        )
        yield rsps


def _upload_event(aws: Aws, key: str, body: bytes) -> dict[str, object]:
    etag = aws.put(key, body)
    event = copy.deepcopy(load_event("s3_put"))
    record = event["Records"][0]["s3"]
    record["object"].update({"key": key.replace(" ", "+"), "eTag": etag, "size": len(body)})
    return event


def test_on_upload_starts_one_named_execution_and_counts_redelivery_as_duplicate(aws: Aws) -> None:
    # GIVEN an uploaded image and its notification
    event = _upload_event(aws, "incoming/2026/my scan.png", image_bytes())
    handler = aws.handler("on_upload")
    # WHEN the notification is delivered twice
    first = handler(event)
    second = handler(event)
    # THEN one execution exists, named deterministically, and the repeat is a duplicate
    executions = aws.sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    assert [e["name"] for e in executions] == first["executions"]
    assert (first["started"], second["started"], second["duplicates"]) == (1, 0, 1)
    started = aws.sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(started["input"])["object"]["key"] == "incoming/2026/my scan.png"


def test_submit_and_checks_write_text_binarized_png_and_result(aws: Aws, api: responses.RequestsMock) -> None:
    # GIVEN an uploaded image and an OCR API that finishes each task by the first poll
    etag = aws.put("incoming/2026/scan.png", image_bytes(400, 300, "PNG", color=180))
    png = image_bytes(400, 300, "PNG", color=255)
    api.post(f"{BASE}/v5.0/ocr/BinarizeImage", body=TASK_B)
    api.post(f"{BASE}/v5.0/ocr/RecognizeImage", body=TASK_R)
    api.get(f"{BASE}/v5.0/ocr/Utilities/GetTaskStatus", body=_ocr_response(TASK_B, "Completed"))
    api.get(f"{BASE}/v5.0/ocr/BinarizeImage", body=_ocr_response(TASK_B, "Completed", ("ImagePNG", png)))
    api.get(f"{BASE}/v5.0/ocr/RecognizeImage", body=_ocr_response(TASK_R, "Completed", ("Text", b"Bonjour")))
    obj = {"bucket": BUCKET, "key": "incoming/2026/scan.png", "version_id": None, "etag": etag, "size": None}
    submit, check = aws.handler("submit"), aws.handler("check")
    # WHEN the workflow's three Lambda steps run in order
    job = submit({"object": obj, "execution": "scan-1"})
    job = check({"object": obj, "job": job, "execution": "scan-1"})
    job = check({"object": obj, "job": job, "execution": "scan-1"})
    # THEN the outputs are in S3 and the job is done
    assert job["action"] == "done"
    assert aws.read("text/2026/scan.txt") == b"Bonjour"
    assert aws.read("binarized/2026/scan.png") == png
    record = json.loads(aws.read("results/2026/scan.json"))
    assert (record["tasks"]["binarize"]["task_id"], record["tasks"]["recognize"]["task_id"]) == (
        TASK_B,
        TASK_R,
    )
    assert record["engine"]["base_url"] == BASE


def test_submit_oversized_object_raises_before_calling_api(aws: Aws, api: responses.RequestsMock) -> None:
    # GIVEN an object above MAX_IMAGE_BYTES
    etag = aws.put("incoming/big.bmp", image_bytes(400, 400, "BMP"))
    submit = aws.handler("submit", MAX_IMAGE_BYTES="1000")
    obj = {"bucket": BUCKET, "key": "incoming/big.bmp", "version_id": None, "etag": etag, "size": None}
    # WHEN submitted / THEN ImageTooLarge (the Lambda errorType) propagates and no call was made
    with pytest.raises(ImageTooLarge):
        submit({"object": obj, "execution": "big"})
    assert len(api.calls) == 0


def test_submit_throttled_post_raises_named_error_for_workflow_retry(
    aws: Aws, api: responses.RequestsMock
) -> None:
    # GIVEN an OCR API that throttles submissions
    etag = aws.put("incoming/a.png", image_bytes())
    api.post(f"{BASE}/v5.0/ocr/BinarizeImage", status=429)
    obj = {"bucket": BUCKET, "key": "incoming/a.png", "version_id": None, "etag": etag, "size": None}
    # WHEN submitted / THEN OcrApiThrottled propagates
    with pytest.raises(OcrApiThrottled):
        aws.handler("submit")({"object": obj, "execution": "a"})


def test_record_failure_from_catch_writes_failed_record(aws: Aws) -> None:
    # GIVEN the state a Catch passes on after the check failed
    obj = {"bucket": BUCKET, "key": "incoming/2026/scan.png", "version_id": None, "etag": "e", "size": None}
    state = {"object": obj, "error": {"Error": "PollLimitExceeded", "Cause": "still Pending after 3 polls"}}
    # WHEN recorded
    outcome = aws.handler("record_failure")({"state": state, "execution": "scan-1"})
    # THEN failed/<rel>.json holds the error
    record = json.loads(aws.read("failed/2026/scan.json"))
    assert outcome["failed_key"] == "failed/2026/scan.json"
    assert (record["error_type"], record["message"], record["execution"]) == (
        "PollLimitExceeded",
        "still Pending after 3 polls",
        "scan-1",
    )


def test_record_failure_from_timed_out_execution_event_writes_failed_record(aws: Aws) -> None:
    # GIVEN the EventBridge status-change event of a timed-out execution
    event = load_event("sfn_execution_timed_out")
    # WHEN recorded
    aws.handler("record_failure")(event)
    # THEN the record names the timeout and the execution
    record = json.loads(aws.read("failed/2026/scan.json"))
    assert (record["status"], record["error_type"]) == ("TIMED_OUT", "States.TIMED_OUT")
    assert record["execution"] == event["detail"]["name"]
