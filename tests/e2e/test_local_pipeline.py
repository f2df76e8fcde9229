"""The whole pipeline on the local stack: moto, real handlers, the real ASL and the offline OCR service."""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.samples import truth_path
from local_stack.stack import LocalStack

IMAGES = Path(__file__).resolve().parents[2] / "events" / "images"
MAX_POLLS = 6
DEADLINE = 60.0
NO_FAULTS = {"delay_seconds": 0, "error_rate": 0, "rate_429": 0, "rate_5xx": 0, "lost_rate": 0}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    overrides = {
        "FirstWaitSeconds": "1",
        "MaxWaitSeconds": "1",
        "MaxPolls": str(MAX_POLLS),
        "InLambdaPollSeconds": "0",
    }
    with LocalStack.start(param_overrides=overrides) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(stack: LocalStack) -> Iterator[None]:
    stack.ocr.set_faults(**NO_FAULTS)
    yield
    stack.ocr.set_faults(**NO_FAULTS)


def _read(stack: LocalStack, key: str) -> bytes:
    body: bytes = stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    return body


def _submissions(stack: LocalStack) -> int:
    requests = stack.ocr.stats()["requests"]
    return sum(
        count for route, count in requests.items() if route.startswith("POST ") and "token" not in route
    )


def test_upload_clean_image_text_matches_known_text(stack: LocalStack) -> None:
    # GIVEN a sample page with known text
    image = IMAGES / "clean.png"

    # WHEN it is uploaded and processed
    key = stack.upload(image, "incoming/e2e/clean.png")
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN the text written under text/ is close to the truth
    assert record.status == "SUCCEEDED"
    text = _read(stack, "text/e2e/clean.png.txt").decode("utf-8")
    truth = truth_path(image).read_text(encoding="utf-8")
    assert difflib.SequenceMatcher(None, text.split(), truth.split()).ratio() > 0.9


def test_one_image_costs_three_s3_gets_and_seven_puts(stack: LocalStack) -> None:
    # GIVEN the stack's count of the AWS requests it served
    before = stack.aws_requests()

    # WHEN one image goes through the default pipeline (binarization, then recognition)
    key = stack.upload(IMAGES / "clean.png", "incoming/e2e-requests/clean.png")
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN besides the upload, S3 served 3 GETs (the upload by validation and by the binarization stage,
    # the binarized page by recognition) and 7 PUTs (a claim and an accepted record per stage, the
    # binarized page, the text, the result record): no stage read its submission record first
    assert record.status == "SUCCEEDED"
    after = stack.aws_requests()
    spent = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in after}
    assert (spent.get("s3 GET", 0), spent.get("s3 PUT", 0) - 1) == (3, 7)
    assert spent.get("states StartExecution") == 1 and spent.get("dynamodb PutItem", 0) >= 1


def test_same_name_png_and_jpg_in_one_folder_keep_separate_outputs(stack: LocalStack) -> None:
    # GIVEN scan.png and scan.jpg (different pages) in one folder
    png = stack.upload(IMAGES / "clean.png", "incoming/e2e/twins/scan.png")
    jpg = stack.upload(IMAGES / "stained.jpg", "incoming/e2e/twins/scan.jpg")

    # WHEN both are processed
    records = stack.wait_all(DEADLINE, [png, jpg])

    # THEN each has its own text and result record, and each record describes its own input
    assert [r.status for r in records] == ["SUCCEEDED", "SUCCEEDED"]
    for key, image in ((png, "clean.png"), (jpg, "stained.jpg")):
        relative = key.removeprefix("incoming/")
        text = _read(stack, f"text/{relative}.txt").decode("utf-8")
        truth = truth_path(IMAGES / image).read_text(encoding="utf-8")
        assert difflib.SequenceMatcher(None, text.split(), truth.split()).ratio() > 0.8, key
        assert json.loads(_read(stack, f"results/{relative}.json"))["input"]["key"] == key


def _s3_event(stack: LocalStack, key: str) -> dict[str, object]:
    """The ObjectCreated:Put notification S3 sends for the current version of `key`."""
    head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
    obj = {"key": key, "eTag": head["ETag"].strip('"'), "size": head["ContentLength"]}
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.bucket}, "object": {**obj, "versionId": head["VersionId"]}},
    }
    return {"Records": [record]}


def test_duplicate_notification_submits_once(stack: LocalStack) -> None:
    # GIVEN an image processed once, whose execution is pinned to the version S3 notified
    data = (IMAGES / "low-contrast.jpg").read_bytes()
    key = stack.upload_bytes(data, "incoming/e2e/dup.jpg")
    stack.wait_all(DEADLINE, [key])
    submissions = _submissions(stack)
    version = stack.s3.head_object(Bucket=stack.bucket, Key=key)["VersionId"]
    relative = key.removeprefix("incoming/")
    assert json.loads(_read(stack, f"results/{relative}.json"))["input"]["version_id"] == version

    # WHEN the on-upload function gets the same notification again (S3 delivers at least once)
    upload_function = next(f for f in stack.spec.functions if "on_upload" in f.handler)
    answer = stack.clients["lambda"].invoke(
        FunctionName=upload_function.name, Payload=json.dumps(_s3_event(stack, key))
    )
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN it is counted a duplicate: still one execution, and the OCR API saw no new submission
    assert json.loads(answer["Payload"].read())["duplicates"] == 1
    assert (record.status, record.executions) == ("SUCCEEDED", 1)
    assert _submissions(stack) == submissions


def test_same_bytes_put_again_is_a_new_version_processed_once_more(stack: LocalStack) -> None:
    # GIVEN an image processed once
    data = (IMAGES / "low-contrast.jpg").read_bytes()
    key = stack.upload_bytes(data, "incoming/e2e/again.jpg")
    stack.wait_all(DEADLINE, [key])
    submissions = _submissions(stack)

    # WHEN the same bytes are put again (the bucket is versioned: a new version, the same eTag)
    stack.upload_bytes(data, key)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and stack.records([key])[0].executions < 2:
        time.sleep(0.2)
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN, as on AWS (S3 notifies the new version id), the new version is its own execution, each
    # stage submitted once for it
    assert (record.status, record.executions) == ("SUCCEEDED", 2)
    assert _submissions(stack) == submissions + 2


def test_api_task_error_writes_failure_record_naming_stage_and_cause(stack: LocalStack) -> None:
    # GIVEN an OCR service whose tasks all end in Error
    stack.ocr.set_faults(error_rate=1.0)

    # WHEN an image is processed
    key = stack.upload(IMAGES / "stained.jpg", "incoming/e2e/api-error.jpg")
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN the execution failed and failed/….json names the stage and the cause
    assert record.status == "FAILED"
    failure = json.loads(_read(stack, "failed/e2e/api-error.jpg.json"))
    assert failure["stage"]
    assert failure["error_type"]
    assert failure["message"]


def test_corrupt_image_fails_and_leaves_original_untouched(stack: LocalStack) -> None:
    # GIVEN bytes that are not an image, named .jpg
    data = b"this is not a JPEG at all" * 10
    key = stack.upload_bytes(data, "incoming/e2e/corrupt.jpg")
    etag = stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"]

    # WHEN it is processed
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN a failure record exists and the original is byte-for-byte the same object
    assert record.status == "FAILED"
    assert json.loads(_read(stack, "failed/e2e/corrupt.jpg.json"))["error_type"]
    assert _read(stack, key) == data
    assert stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"] == etag


def test_slow_task_takes_more_polls_but_stays_bounded(stack: LocalStack) -> None:
    # GIVEN an OCR service that delays every task
    stack.ocr.set_faults(delay_seconds=2.5)

    # WHEN an image is processed
    key = stack.upload(IMAGES / "colored-paper.jpg", "incoming/e2e/slow.jpg")
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN it needed more than one check per task, within MaxPolls per task, and finished
    assert record.finished
    assert record.polls > 2
    assert record.polls <= 2 * MAX_POLLS
