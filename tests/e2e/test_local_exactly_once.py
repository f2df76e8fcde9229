"""Exactly one accepted vendor task per stage, through the local stack and the OCR service's counters.

A Lambda that times out right after its POST was accepted, and stages retried under injected 429/503
faults, each leave one accepted task per stage (the POST whose answer timed out is in
``test_local_submission_in_doubt.py``: it needs a stack of its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.stack import LocalStack
from tests.e2e.template_variants import derived_template

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "events" / "images"
DEADLINE = 120.0
NO_FAULTS = {"delay_seconds": 0, "error_rate": 0, "rate_429": 0, "rate_5xx": 0, "lost_rate": 0}

pytestmark = pytest.mark.slow


def _posts(stack: LocalStack, operation: str) -> int:
    return int(stack.ocr.stats()["requests"].get(f"POST {operation}", 0))


def _stored_tasks(stack: LocalStack) -> int:
    """Tasks the service accepted (every status; the queue depth is not a task)."""
    counts = stack.ocr.stats()["tasks"]
    return sum(int(n) for status, n in counts.items() if status != "queued")


def _read_json(stack: LocalStack, key: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
    return data


def _template_with_short_preprocess_timeout(tmp: Path, seconds: int) -> Path:
    """template.yaml with PreprocessFunction's Timeout lowered."""
    old = "      Handler: ocr_pipeline.handlers.preprocess.handler\n      Timeout: 120\n"
    return derived_template(tmp, {old: old.replace("Timeout: 120", f"Timeout: {seconds}")})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The preprocessing function times out after 2 s while its in-Lambda wait may last 3 s.
    template = _template_with_short_preprocess_timeout(tmp_path_factory.mktemp("template"), 2)
    overrides = {
        "FirstWaitSeconds": "0.1",
        "MaxWaitSeconds": "1",
        "MaxPolls": "30",
        "InLambdaPollSeconds": "3",
        "InLambdaPollIntervalSeconds": "0.5",
    }
    with LocalStack.start(
        template=template, param_overrides=overrides, service_options={"workers": 2}
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(stack: LocalStack) -> Iterator[None]:
    stack.ocr.set_faults(**NO_FAULTS)
    yield
    stack.ocr.set_faults(**NO_FAULTS)


def test_lambda_timing_out_after_accepted_post_leaves_one_task_and_succeeds(stack: LocalStack) -> None:
    # GIVEN binarization tasks that take 2.5 s, so the submitting function's in-Lambda wait outlives
    # its 2 s timeout right after the POST was accepted
    stack.ocr.set_faults(delay_seconds=2.5)
    before_b, before_r = _posts(stack, "BinarizeImage"), _posts(stack, "RecognizeImage")
    before_tasks = _stored_tasks(stack)

    # WHEN an image is processed
    key = stack.upload(IMAGES / "clean.png", "incoming/once/timeout-after-post.png")
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN Step Functions retried the timed-out state, which resumed the recorded task:
    # one BinarizeImage and one RecognizeImage POST, two accepted tasks, and the image succeeded
    timed_out = [i for i in stack.invocations if i.error_type == "Sandbox.Timedout"]
    assert timed_out, "the submitting function did not time out"
    assert record.status == "SUCCEEDED", (record.error, record.cause)
    assert (_posts(stack, "BinarizeImage") - before_b, _posts(stack, "RecognizeImage") - before_r) == (1, 1)
    assert _stored_tasks(stack) - before_tasks == 2
    result = _read_json(stack, "results/once/timeout-after-post.png.json")
    stages = result["stages"]
    assert isinstance(stages, dict) and stages["binarize"]["resumed"] is True


def _redeliver(stack: LocalStack, key: str) -> None:
    """Hand the on-upload function the object's notification a second time."""
    upload_function = next(f for f in stack.spec.functions if "on_upload" in f.handler)
    head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": stack.bucket},
            "object": {"key": key, "eTag": head["ETag"].strip('"'), "size": head["ContentLength"]},
        },
    }
    stack.clients["lambda"].invoke(
        FunctionName=upload_function.name, Payload=json.dumps({"Records": [record]})
    )


def test_burst_with_faults_and_redelivered_notifications_accepts_one_task_per_stage(
    stack: LocalStack,
) -> None:
    # GIVEN an OCR service answering 10 % of API requests 429 and 5 % 503
    images = 10
    stack.ocr.set_faults(rate_429=0.10, rate_5xx=0.05, seed=8)
    before_tasks = _stored_tasks(stack)
    sources = sorted(IMAGES.rglob("*.jpg")) + sorted(IMAGES.rglob("*.png"))

    # WHEN a burst of images is uploaded and a fifth of the notifications is delivered twice
    keys = [
        stack.upload_bytes(sources[i % len(sources)].read_bytes(), f"incoming/once/burst/{i}.png")
        for i in range(images)
    ]
    for key in keys[: images // 5]:
        _redeliver(stack, key)
    records = stack.wait_all(DEADLINE, keys)

    # THEN every image succeeded in one execution, faults made the workflow retry, and the service
    # accepted exactly one task per stage per image
    assert [r.status for r in records] == ["SUCCEEDED"] * images, [(r.key, r.error, r.cause) for r in records]
    assert all(r.executions == 1 for r in records)
    requests = stack.ocr.stats()["requests"]
    assert requests.get("fault 429", 0) + requests.get("fault 503", 0) > 0
    assert _stored_tasks(stack) - before_tasks == 2 * images
