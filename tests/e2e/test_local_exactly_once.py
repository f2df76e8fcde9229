"""Exactly one accepted vendor task per stage, through the local stack and the OCR service's counters.

A Lambda that times out right after its POST was accepted leaves one accepted task per stage (stages
retried under injected faults are in ``test_local_fault_burst.py``, the POST whose answer timed out in
``test_local_submission_in_doubt.py``: each needs a stack of its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.stack import LocalStack
from tests.e2e.service_counts import posts, read_json, stored_tasks
from tests.e2e.template_variants import derived_template

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "events" / "images"
DEADLINE = 120.0
NO_FAULTS = {"delay_seconds": 0, "error_rate": 0, "rate_429": 0, "rate_5xx": 0, "lost_rate": 0}

pytestmark = pytest.mark.slow


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
    before_b, before_r = posts(stack, "BinarizeImage"), posts(stack, "RecognizeImage")
    before_tasks = stored_tasks(stack)

    # WHEN an image is processed
    key = stack.upload(IMAGES / "clean.png", "incoming/once/timeout-after-post.png")
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN Step Functions retried the timed-out state, which resumed the recorded task:
    # one BinarizeImage and one RecognizeImage POST, two accepted tasks, and the image succeeded
    timed_out = [i for i in stack.invocations if i.error_type == "Sandbox.Timedout"]
    assert timed_out, "the submitting function did not time out"
    assert record.status == "SUCCEEDED", (record.error, record.cause)
    assert (posts(stack, "BinarizeImage") - before_b, posts(stack, "RecognizeImage") - before_r) == (1, 1)
    assert stored_tasks(stack) - before_tasks == 2
    result = read_json(stack, "results/once/timeout-after-post.png.json")
    stages = result["stages"]
    assert isinstance(stages, dict) and stages["binarize"]["resumed"] is True
