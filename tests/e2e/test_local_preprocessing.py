"""The preprocessing chain through the local stack: each step an API call, a state and an image."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.executions import history_events
from local_stack.samples import truth_path
from local_stack.stack import LocalStack

IMAGES = Path(__file__).resolve().parents[2] / "events" / "images"
DEADLINE = 180.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    overrides = {"Preprocessing": "deskew,upscale,binarize", "FirstWaitSeconds": "0.1", "MaxWaitSeconds": "1"}
    with LocalStack.start(param_overrides=overrides) as running:
        yield running


def test_deskew_upscale_binarize_chain_stores_each_image_and_posts_each_operation_once(
    stack: LocalStack,
) -> None:
    # GIVEN Preprocessing=deskew,upscale,binarize and a page with known text
    image = IMAGES / "clean.png"

    # WHEN it is processed
    key = stack.upload(image, "incoming/chain/clean.png")
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN each step's image is under its own prefix, each operation was POSTed once, the history shows
    # a state per stage, and the text is still right
    assert record.status == "SUCCEEDED", (record.error, record.cause)
    listing = stack.s3.list_objects_v2(Bucket=stack.bucket)
    keys = {item["Key"] for item in listing.get("Contents", [])}
    for prefix in ("deskewed", "upscaled", "binarized"):
        assert f"{prefix}/chain/clean.png.png" in keys
    requests = stack.ocr.stats()["requests"]
    for operation in ("DeskewImage", "UpscaleImage", "BinarizeImage", "RecognizeImage"):
        assert requests.get(f"POST {operation}") == 1, operation
    entered = {
        e["stateEnteredEventDetails"]["name"]
        for e in history_events(stack.sfn, record.execution_arn)
        if e["type"].endswith("StateEntered")
    }
    assert {"Submit deskew", "Submit upscaling", "Submit binarization", "Submit recognition"} <= entered
    result = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key="results/chain/clean.png.json")["Body"].read()
    )
    assert result["steps"] == ["deskew", "upscale", "binarize", "recognize"]
    text = (
        stack.s3.get_object(Bucket=stack.bucket, Key="text/chain/clean.png.txt")["Body"]
        .read()
        .decode("utf-8")
    )
    truth = truth_path(image).read_text(encoding="utf-8")
    assert difflib.SequenceMatcher(None, text.split(), truth.split()).ratio() > 0.8
