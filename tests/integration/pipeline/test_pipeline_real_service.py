"""Submit, check and outputs against the real offline OCR service (``ocr_service``), AWS on moto."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from bench.corpus import degrade, make_page
from bench.metrics import cer
from ocr_service.testing import RunningService, start_service
from tests.integration.pipeline.conftest import Aws
from tests.unit.pipeline.pipeline_support import BUCKET

DEADLINE_SECONDS = 60.0
POLL_PAUSE_SECONDS = 0.1
MAX_CER = 0.10


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    with start_service(workers=2, queue_size=8) as running:
        yield running


def _png(pixels: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _run_job(aws: Aws, obj: dict[str, Any]) -> dict[str, Any]:
    """Drive the stages like the state machine, with short pauses instead of its waits."""
    return aws.run_job(obj, "real-service", deadline_seconds=DEADLINE_SECONDS, pause=POLL_PAUSE_SECONDS)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["endpoint", "inline"])
def test_real_service_job_recognizes_generated_page(aws: Aws, service: RunningService, mode: str) -> None:
    # GIVEN a rendered page with known text under uneven light, uploaded to the bucket
    page = degrade(make_page(7, width=900, height=360, font_px=28), "uneven_illumination", 7)
    key = f"incoming/real/{mode}.png"
    aws.put(key, _png(page.image))
    aws.env.update(OCR_API_BASE_URL=service.base_url, BINARIZATION_MODE=mode, MAX_POLLS="500")
    obj = {"bucket": BUCKET, "key": key, "version_id": None, "etag": None, "size": None}
    # WHEN the job runs against the OCR service
    job = _run_job(aws, obj)
    # THEN the text is close to the truth and the record names the service
    text = aws.read(f"text/real/{mode}.png.txt").decode("utf-8")
    assert cer(page.text, text) <= MAX_CER, text
    record = json.loads(aws.read(f"results/real/{mode}.png.json"))
    assert record["engine"]["base_url"] == service.base_url
    assert job["mode"]["effective"] == mode
    assert (f"binarized/real/{mode}.png.png" in aws.object_keys()) is (mode == "endpoint")
