"""Handlers against moto's S3, Step Functions and Secrets Manager, with the OCR API scripted."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator

import boto3
import pytest
import requests
import responses
from pydantic import ValidationError

from ocr_pipeline.domain.models import FailureRecord
from ocr_pipeline.errors import ImageTooLarge, OcrApiThrottled, SubmissionInDoubt
from tests.integration.pipeline.conftest import ADMISSION_TABLE, Aws
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


def _scripted_endpoint_api(api: responses.RequestsMock, png: bytes) -> None:
    api.post(f"{BASE}/v5.0/ocr/BinarizeImage", body=TASK_B)
    api.post(f"{BASE}/v5.0/ocr/RecognizeImage", body=TASK_R)
    api.get(f"{BASE}/v5.0/ocr/BinarizeImage", body=_ocr_response(TASK_B, "Completed", ("ImagePNG", png)))
    api.get(f"{BASE}/v5.0/ocr/RecognizeImage", body=_ocr_response(TASK_R, "Completed", ("Text", b"Bonjour")))


def _served(api: responses.RequestsMock, method: str, operation: str) -> int:
    return sum(
        1 for c in api.calls if c.request.method == method and f"/v5.0/ocr/{operation}" in str(c.request.url)
    )


def test_stage_handlers_write_text_binarized_png_and_result_with_two_posts_two_gets(
    aws: Aws, api: responses.RequestsMock
) -> None:
    # GIVEN an uploaded image and an OCR API that finishes each task by the first result request
    etag = aws.put("incoming/2026/scan.png", image_bytes(400, 300, "PNG", color=180))
    png = image_bytes(400, 300, "PNG", color=255)
    _scripted_endpoint_api(api, png)
    obj = {"bucket": BUCKET, "key": "incoming/2026/scan.png", "version_id": None, "etag": etag, "size": None}
    # WHEN the workflow's stages run in order
    job = aws.run_job(obj, "scan-1")
    # THEN the outputs are in S3, read with each operation's own GET: 2 POSTs + 2 GETs in all
    assert (job["status"], job["next"]) == ("completed", "done")
    assert aws.read("text/2026/scan.png.txt") == b"Bonjour"
    assert aws.read("binarized/2026/scan.png.png") == png
    record = json.loads(aws.read("results/2026/scan.png.json"))
    assert (record["stages"]["binarize"]["task_id"], record["stages"]["recognize"]["task_id"]) == (
        TASK_B,
        TASK_R,
    )
    assert record["calls"] == {"posts": 2, "gets": 2}
    assert record["engine"]["base_url"] == BASE
    assert _served(api, "GET", "Utilities/GetTaskStatus") == 0
    # AND each stage left its accepted submission record
    assert {"submissions/scan-1/binarize.json", "submissions/scan-1/recognize.json"} <= aws.object_keys()


def test_retried_submit_after_accepted_post_reuses_task_from_record(
    aws: Aws, api: responses.RequestsMock
) -> None:
    # GIVEN a binarization already submitted by an invocation that then crashed (its job was lost)
    etag = aws.put("incoming/2026/scan.png", image_bytes(400, 300, "PNG", color=180))
    _scripted_endpoint_api(api, image_bytes(400, 300))
    obj = {"bucket": BUCKET, "key": "incoming/2026/scan.png", "version_id": None, "etag": etag, "size": None}
    preprocess = aws.handler("preprocess", IN_LAMBDA_POLL_SECONDS="0")
    job = preprocess({"action": "check_image", "object": obj, "execution": "scan-1"})
    event = {"action": "submit", "stage": "binarize", "object": obj, "job": job, "execution": "scan-1"}
    preprocess(event)
    # WHEN Step Functions retries the same state with the same input
    again = preprocess(event)
    # THEN the retry resumes the recorded task: the API saw one BinarizeImage POST
    assert again["tasks"]["binarize"]["task_id"] == TASK_B and again["tasks"]["binarize"]["resumed"] is True
    assert _served(api, "POST", "BinarizeImage") == 1


def test_submit_reply_timed_out_fails_stage_in_doubt_and_is_not_reposted(
    aws: Aws, api: responses.RequestsMock
) -> None:
    # GIVEN a BinarizeImage POST whose answer times out
    etag = aws.put("incoming/a.png", image_bytes())
    api.post(f"{BASE}/v5.0/ocr/BinarizeImage", body=requests.exceptions.ReadTimeout())
    obj = {"bucket": BUCKET, "key": "incoming/a.png", "version_id": None, "etag": etag, "size": None}
    preprocess = aws.handler("preprocess")
    job = preprocess({"action": "check_image", "object": obj, "execution": "a"})
    event = {"action": "submit", "stage": "binarize", "object": obj, "job": job, "execution": "a"}
    # WHEN submitted, and submitted again as a retry would
    for _ in range(2):
        with pytest.raises(SubmissionInDoubt):
            preprocess(event)
    # THEN only one POST ever went out
    assert _served(api, "POST", "BinarizeImage") == 1


def test_check_image_oversized_object_raises_before_calling_api(
    aws: Aws, api: responses.RequestsMock
) -> None:
    # GIVEN an object above MAX_IMAGE_BYTES
    etag = aws.put("incoming/big.bmp", image_bytes(400, 400, "BMP"))
    preprocess = aws.handler("preprocess", MAX_IMAGE_BYTES="1000")
    obj = {"bucket": BUCKET, "key": "incoming/big.bmp", "version_id": None, "etag": etag, "size": None}
    # WHEN checked / THEN ImageTooLarge (the Lambda errorType) propagates and no call was made
    with pytest.raises(ImageTooLarge):
        preprocess({"action": "check_image", "object": obj, "execution": "big"})
    assert len(api.calls) == 0


def test_submit_throttled_post_raises_named_error_for_workflow_retry(
    aws: Aws, api: responses.RequestsMock
) -> None:
    # GIVEN an OCR API that throttles submissions
    etag = aws.put("incoming/a.png", image_bytes())
    api.post(f"{BASE}/v5.0/ocr/BinarizeImage", status=429)
    obj = {"bucket": BUCKET, "key": "incoming/a.png", "version_id": None, "etag": etag, "size": None}
    preprocess = aws.handler("preprocess")
    job = preprocess({"action": "check_image", "object": obj, "execution": "a"})
    # WHEN submitted / THEN OcrApiThrottled propagates and the claim is freed for the retry
    with pytest.raises(OcrApiThrottled):
        preprocess({"action": "submit", "stage": "binarize", "object": obj, "job": job, "execution": "a"})
    assert "submissions/a/binarize.json" not in aws.object_keys()


def test_stage_event_with_malformed_job_is_rejected_at_the_edge(aws: Aws) -> None:
    # GIVEN a state input whose job lacks its fields / WHEN handled / THEN a validation error, no API call
    obj = {"bucket": BUCKET, "key": "incoming/a.png", "version_id": None, "etag": "e", "size": None}
    with pytest.raises(ValidationError):
        aws.handler("recognize")(
            {"action": "submit", "stage": "recognize", "object": obj, "job": {"stage": 1}, "execution": "a"}
        )


def test_record_failure_from_catch_writes_failed_record(aws: Aws) -> None:
    # GIVEN the state a Catch passes on after the check failed
    obj = {"bucket": BUCKET, "key": "incoming/2026/scan.png", "version_id": None, "etag": "e", "size": None}
    state = {
        "object": obj,
        "error": {"Error": "PollLimitExceeded", "Cause": "still Pending after 3 polls"},
        "failed_stage": "recognize",
    }
    # WHEN recorded
    outcome = aws.handler("record_failure")({"state": state, "execution": "scan-1"})
    # THEN failed/<rel>.json holds the error
    record = json.loads(aws.read("failed/2026/scan.png.json"))
    assert outcome["failed_key"] == "failed/2026/scan.png.json"
    assert (record["error_type"], record["message"], record["execution"], record["stage"]) == (
        "PollLimitExceeded",
        "still Pending after 3 polls",
        "scan-1",
        "recognize",
    )
    FailureRecord.model_validate(record)


def test_record_failure_from_timed_out_execution_event_writes_failed_record(aws: Aws) -> None:
    # GIVEN the EventBridge status-change event of a timed-out execution
    event = load_event("sfn_execution_timed_out")
    # WHEN recorded
    aws.handler("record_failure")(event)
    # THEN the record names the timeout and the execution
    record = json.loads(aws.read("failed/2026/scan.jpg.json"))
    assert (record["status"], record["error_type"]) == ("TIMED_OUT", "States.TIMED_OUT")
    assert record["execution"] == event["detail"]["name"]


def test_record_failure_from_catch_event_fixture_names_the_stage(aws: Aws) -> None:
    # GIVEN the sample Catch payload of a failed recognition
    event = load_event("sfn_catch_failure")
    # WHEN recorded / THEN the record names the stage and carries the Lambda error message
    outcome = aws.handler("record_failure")(event)
    record = FailureRecord.model_validate(json.loads(aws.read("failed/2026/scan.jpg.json")))
    assert (outcome["stage"], record.stage, record.error_type) == ("recognize", "recognize", "OcrTaskFailed")
    assert record.message.endswith("failed: engine error")


def test_record_failure_timed_out_execution_names_last_submitted_stage(aws: Aws) -> None:
    # GIVEN a timed-out execution whose binarization and recognition were both submitted
    event = load_event("sfn_execution_timed_out")
    name = event["detail"]["name"]
    for stage in ("binarize", "recognize"):
        aws.s3.put_object(Bucket=BUCKET, Key=f"submissions/{name}/{stage}.json", Body=b"{}")
    # WHEN its status-change event is recorded / THEN the record says recognition was running
    aws.handler("record_failure")(event)
    assert json.loads(aws.read("failed/2026/scan.jpg.json"))["stage"] == "recognize"


def test_record_failure_gives_the_slot_back_and_hands_it_to_the_next_waiter(aws: Aws) -> None:
    # GIVEN the only slot held by the execution that failed, and another execution waiting for it
    admission = aws.handler("admission")
    holder = load_event("sfn_catch_failure")["execution"]
    arn = aws.state_machine_arn.replace(":stateMachine:", ":execution:")
    acquired = admission({**load_event("admission_acquire"), "execution_arn": f"{arn}:{holder}"})
    waiting = admission(
        {"action": "acquire", "execution": "next", "execution_arn": f"{arn}:next", "token": "t2"}
    )
    assert (acquired["granted"], waiting["granted"]) == ([holder], [])

    # WHEN its failure is recorded
    outcome = aws.handler("record_failure")(load_event("sfn_catch_failure"))

    # THEN its slot was released and handed to the waiting execution
    assert outcome["released"] is True
    slots = boto3.client("dynamodb").get_item(
        TableName=ADMISSION_TABLE, Key={"pk": {"S": "slots"}, "sk": {"S": "slots"}}, ConsistentRead=True
    )["Item"]
    assert list(slots["holders"]["M"]) == ["next"]
    # AND the reconciler frees that slot too, since no such execution runs here
    report = admission({"action": "reconcile"})
    assert (report["released"], report["held"], report["waiting"]) == (["next"], 0, 0)


def test_validate_image_event_fixture_plans_stages(aws: Aws) -> None:
    # GIVEN the sample Validate image input and its object
    event = load_event("sfn_validate_image")
    # The read is pinned to the eTag the execution was started for: the object stored here has its own.
    event["object"]["etag"] = aws.put(event["object"]["key"], image_bytes(200, 100, "JPEG"))
    # WHEN handled / THEN the job routes to binarization, the only planned preprocessing stage
    job = aws.handler("preprocess")(event)
    assert (job["steps"], job["next"], job["status"]) == (["binarize", "recognize"], "binarize", "completed")


def test_s3_store_service_error_becomes_retryable_storage_unavailable(aws: Aws) -> None:
    # GIVEN S3 answering a write with a 503 SlowDown
    from botocore.stub import Stubber

    from ocr_pipeline.adapters.s3_store import S3ObjectStore
    from ocr_pipeline.errors import StorageUnavailable

    store = S3ObjectStore(aws.s3)
    with Stubber(aws.s3) as stub:
        stub.add_client_error("put_object", service_error_code="SlowDown", http_status_code=503)
        # WHEN written / THEN the named, retried error is raised (not botocore's ClientError)
        with pytest.raises(StorageUnavailable, match="SlowDown"):
            store.write(BUCKET, "text/a.txt", b"x", content_type="text/plain")
