"""A POST whose answer timed out is never re-posted: one accepted task, the stage fails as in doubt."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from local_stack.stack import LocalStack
from tests.e2e.service_counts import posts, read_json, stored_tasks
from tests.e2e.template_variants import derived_template

DEADLINE = 120.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slow_reply_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # A read timeout far below the time the service needs to answer a large image's POST (the
    # template's own lower bound, 1 s, is a sane production floor, so a derived template lowers it).
    bound = "    Default: 20\n    MinValue: 1\n    MaxValue: 60\n"
    template = derived_template(
        tmp_path_factory.mktemp("template"), {bound: bound.replace("MinValue: 1", "MinValue: 0.01")}
    )
    overrides = {"OcrReadTimeoutSeconds": "0.05", "FirstWaitSeconds": "0.1", "MaxWaitSeconds": "1"}
    with LocalStack.start(template=template, param_overrides=overrides) as running:
        yield running


def _large_png() -> bytes:
    pixels = np.random.default_rng(3).integers(0, 256, size=(2400, 2400), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_post_whose_answer_timed_out_is_never_reposted_and_fails_naming_stage(
    slow_reply_stack: LocalStack,
) -> None:
    stack = slow_reply_stack
    # GIVEN a large image whose BinarizeImage answer takes longer than the client's read timeout
    key = stack.upload_bytes(_large_png(), "incoming/once/slow-reply.png")

    # WHEN it is processed
    (record,) = stack.wait_all(DEADLINE, [key])

    # THEN one POST went out and one task was accepted; the stage failed as in doubt instead of
    # re-posting, and the failure record names the stage
    assert posts(stack, "BinarizeImage") == 1
    assert stored_tasks(stack) == 1
    assert record.status == "FAILED"
    failure = read_json(stack, "failed/once/slow-reply.png.json")
    assert (failure["stage"], failure["error_type"]) == ("binarize", "SubmissionInDoubt")
