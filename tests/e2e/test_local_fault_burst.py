"""A burst under injected 429/503 faults with redelivered notifications: every image succeeds, and the
OCR service accepts exactly one task per stage and image (its request and task counters)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.runner import RunnerOptions
from local_stack.stack import LocalStack
from tests.e2e.service_counts import stored_tasks

IMAGES = Path(__file__).resolve().parents[2] / "events" / "images"
DEADLINE = 240.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # A fifth of the asynchronous deliveries (the S3 notifications) arrive twice, as S3 may do; the
    # account's concurrency is capped so a 2-core machine does not start a worker per notification.
    overrides = {"FirstWaitSeconds": "0.1", "MaxWaitSeconds": "2", "MaxPolls": "30"}
    options = RunnerOptions(duplicate_delivery_rate=0.2, account_concurrency=12, seed=11)
    with LocalStack.start(
        param_overrides=overrides, service_options={"workers": 2}, lambda_options=options
    ) as running:
        yield running


def test_burst_with_faults_and_redelivered_notifications_accepts_one_task_per_stage(
    stack: LocalStack,
) -> None:
    # GIVEN an OCR service answering 10 % of API requests 429 and 5 % 503
    images = 10
    stack.ocr.set_faults(rate_429=0.10, rate_5xx=0.05, seed=8)
    before_tasks = stored_tasks(stack)
    sources = sorted(IMAGES.rglob("*.jpg")) + sorted(IMAGES.rglob("*.png"))

    # WHEN a burst of images is uploaded (a fifth of the notifications delivered twice)
    keys = [
        stack.upload_bytes(sources[i % len(sources)].read_bytes(), f"incoming/once/burst/{i}.png")
        for i in range(images)
    ]
    records = stack.wait_all(DEADLINE, keys)

    # THEN every image succeeded in one execution, faults made the workflow retry, and the service
    # accepted exactly one task per stage per image
    assert [r.status for r in records] == ["SUCCEEDED"] * images, [(r.key, r.error, r.cause) for r in records]
    assert all(r.executions == 1 for r in records)
    uploads = [i for i in stack.invocations if "OnUpload" in i.function_name]
    assert len(uploads) > images, "no notification was delivered twice"
    requests = stack.ocr.stats()["requests"]
    assert requests.get("fault 429", 0) + requests.get("fault 503", 0) > 0
    assert stored_tasks(stack) - before_tasks == 2 * images
