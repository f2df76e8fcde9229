"""Second chances on the local stack: retry failed images, backfill and force a prefix, versioned reads."""

from __future__ import annotations

import difflib
import io
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image, ImageDraw

from local_stack.resources import notifications
from local_stack.samples import truth_path
from local_stack.stack import LocalStack
from ocr_pipeline.domain.keys import execution_name
from reprocess.__main__ import main as reprocess

IMAGES = Path(__file__).resolve().parents[2] / "events" / "images"
DEADLINE = 90.0
# 100 objects (the figure in the README) take about 2.5 minutes here; the suite runs fewer.
BACKFILL_OBJECTS = 12
NO_FAULTS = {"delay_seconds": 0, "error_rate": 0, "rate_429": 0, "rate_5xx": 0, "lost_rate": 0}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    overrides = {"FirstWaitSeconds": "1", "MaxWaitSeconds": "1", "InLambdaPollSeconds": "3"}
    with LocalStack.start(param_overrides=overrides, service_options={"workers": 2}) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(stack: LocalStack) -> Iterator[None]:
    stack.ocr.set_faults(**NO_FAULTS)
    yield
    stack.ocr.set_faults(**NO_FAULTS)


def _target(stack: LocalStack) -> list[str]:
    return ["--bucket", stack.bucket, "--state-machine-arn", stack.state_machine_arn]


def _exists(stack: LocalStack, key: str) -> bool:
    try:
        stack.s3.head_object(Bucket=stack.bucket, Key=key)
    except ClientError:
        return False
    return True


def _executions_of(stack: LocalStack, prefix: str) -> list[dict[str, Any]]:
    found = []
    paginator = stack.sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=stack.state_machine_arn):
        for execution in page["executions"]:
            described = stack.sfn.describe_execution(executionArn=execution["executionArn"])
            if json.loads(described["input"])["object"]["key"].startswith(prefix):
                found.append(described)
    return found


def _wait_terminal(stack: LocalStack, prefix: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE
    while True:
        executions = _executions_of(stack, prefix)
        done = [e for e in executions if e["status"] != "RUNNING"]
        if (len(executions) >= count and len(done) == len(executions)) or time.monotonic() > deadline:
            return executions
        time.sleep(0.5)


def _small_page(number: int) -> bytes:
    image = Image.new("L", (360, 60), 255)
    ImageDraw.Draw(image).text((10, 20), f"PAGE NUMBER {number}", fill=0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _summaries(out: str) -> list[str]:
    """The summary lines of the reprocess runs in ``out`` (the handlers' metrics share stdout)."""
    return re.findall(r"^(?:backfill|failed|force)\b.*$", out, flags=re.M)


class NotificationsOff:
    """Uploads inside this block start nothing, as objects stored before the stack existed."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack

    def __enter__(self) -> None:
        self._stack.s3.put_bucket_notification_configuration(
            Bucket=self._stack.bucket, NotificationConfiguration={}
        )

    def __exit__(self, *exc: object) -> None:
        lambdas = notifications(self._stack.drop_bucket)
        self._stack.s3.put_bucket_notification_configuration(
            Bucket=self._stack.bucket, NotificationConfiguration={"LambdaFunctionConfigurations": lambdas}
        )


def test_failed_image_reprocessed_after_the_fault_is_cleared(stack: LocalStack) -> None:
    # GIVEN an image that failed because every OCR task ended in Error
    stack.ocr.set_faults(error_rate=1.0)
    key = stack.upload(IMAGES / "clean.png", "incoming/retry/clean.png")
    (record,) = stack.wait_all(DEADLINE, [key])
    assert record.status == "FAILED"
    assert _exists(stack, "failed/retry/clean.png.json")
    stack.ocr.set_faults(**NO_FAULTS)

    # WHEN the failed images are reprocessed (twice: the second run must start nothing)
    assert reprocess([*_target(stack), "--failed"]) == 0
    assert reprocess([*_target(stack), "--failed"]) == 0
    executions = _wait_terminal(stack, "incoming/retry/", 2)

    # THEN one new execution succeeded, the text is written and the failure record is gone
    assert sorted(e["status"] for e in executions) == ["FAILED", "SUCCEEDED"]
    assert _exists(stack, "text/retry/clean.png.txt")
    assert _exists(stack, "results/retry/clean.png.json")
    assert not _exists(stack, "failed/retry/clean.png.json")


def test_backfill_processes_stored_objects_once_and_force_reruns_them(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN objects stored while notifications were off (nothing started for them)
    prefix = "incoming/backfill/"
    with NotificationsOff(stack):
        for number in range(BACKFILL_OBJECTS):
            stack.upload_bytes(_small_page(number), f"{prefix}page-{number:03d}.png")
    assert _executions_of(stack, prefix) == []

    # WHEN the prefix is backfilled twice in a row
    assert reprocess([*_target(stack), "--prefix", prefix]) == 0
    assert reprocess([*_target(stack), "--prefix", prefix]) == 0
    executions = _wait_terminal(stack, prefix, BACKFILL_OBJECTS)

    # THEN each object was started once (the second run found each one started or finished) and has its text
    first, second = _summaries(capsys.readouterr().out)
    assert first.startswith(f"backfill: started {BACKFILL_OBJECTS} · already started 0 ·")
    assert second.startswith("backfill: started 0 ·")
    assert len(executions) == BACKFILL_OBJECTS
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    texts = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="text/backfill/")
    assert texts["KeyCount"] == BACKFILL_OBJECTS

    # WHEN backfilled once more after they finished, then forced twice under one run id
    assert reprocess([*_target(stack), "--prefix", prefix]) == 0
    assert reprocess([*_target(stack), "--force", "--prefix", prefix, "--run-id", "e2e-1"]) == 0
    assert reprocess([*_target(stack), "--force", "--prefix", prefix, "--run-id", "e2e-1"]) == 0
    executions = _wait_terminal(stack, prefix, 2 * BACKFILL_OBJECTS)

    # THEN the backfill started nothing (results exist) and the forced run started each object once
    backfill, forced, forced_again = _summaries(capsys.readouterr().out)
    assert backfill.startswith(f"backfill: started 0 · already started 0 · with result {BACKFILL_OBJECTS}")
    assert forced.startswith(f"force (run e2e-1): started {BACKFILL_OBJECTS} ·")
    assert forced_again.startswith("force (run e2e-1): started 0 ·")
    assert len(executions) == 2 * BACKFILL_OBJECTS
    assert {e["status"] for e in executions} == {"SUCCEEDED"}


def _start(stack: LocalStack, obj: dict[str, Any], run: str) -> dict[str, Any]:
    name = execution_name(obj["bucket"], obj["key"], obj["version_id"] or obj["etag"], run=run)
    payload = {"object": obj, "notified_at": datetime.now(UTC).isoformat(timespec="milliseconds")}
    arn = stack.sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=name, input=json.dumps(payload)
    )
    deadline = time.monotonic() + DEADLINE
    while True:
        described: dict[str, Any] = stack.sfn.describe_execution(executionArn=arn["executionArn"])
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.5)


def test_execution_reads_the_version_it_was_started_for(stack: LocalStack) -> None:
    # GIVEN a key uploaded twice (two versions with different pages), notifications off
    key = "incoming/versions/page.png"
    first, second = IMAGES / "clean.png", IMAGES / "low-contrast.jpg"
    with NotificationsOff(stack):
        v1 = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=first.read_bytes())
        stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=second.read_bytes())
    obj = {"bucket": stack.bucket, "key": key, "etag": v1["ETag"].strip('"'), "size": None}

    # WHEN an execution is started for the first version by version id, and one by its eTag alone
    by_version = _start(stack, {**obj, "version_id": v1["VersionId"]}, run="by-version")
    text = stack.s3.get_object(Bucket=stack.bucket, Key="text/versions/page.png.txt")["Body"].read().decode()
    by_etag = _start(stack, {**obj, "version_id": None}, run="by-etag")

    # THEN the first recognizes the first version's text although the key now holds the second
    assert by_version["status"] == "SUCCEEDED"
    truth = truth_path(first).read_text(encoding="utf-8")
    assert difflib.SequenceMatcher(None, text.split(), truth.split()).ratio() > 0.9
    # AND the eTag-pinned read refuses the replaced object instead of recognizing the other page
    assert by_etag["status"] == "FAILED"
    failure = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key="failed/versions/page.png.json")["Body"].read()
    )
    assert failure["error_type"] == "InvalidImage"
    assert "replaced" in failure["message"]
