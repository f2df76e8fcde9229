"""Shared test helpers for the pipeline: event fixtures, environments, images, in-memory fakes."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ocr_pipeline.domain.ports import OcrResponse, TaskStatus
from ocr_pipeline.errors import ImageTooLarge

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
BUCKET = "ocr-drop-123456789012-us-east-1"

LAYOUT_ENV = {
    "INPUT_PREFIX": "incoming/",
    "TEXT_PREFIX": "text/",
    "BINARIZED_PREFIX": "binarized/",
    "RESULT_PREFIX": "results/",
    "FAILED_PREFIX": "failed/",
}
OCR_ENV = {
    **LAYOUT_ENV,
    "OCR_API_BASE_URL": "http://127.0.0.1:9",
    "OCR_CREDENTIALS_SECRET": "ocr-credentials",
    "SECRET_MAX_AGE_SECONDS": "300",
    "OCR_CONNECT_TIMEOUT_SECONDS": "1",
    "OCR_READ_TIMEOUT_SECONDS": "5",
    "LANGUAGE": "English",
    "BINARIZATION_MODE": "endpoint",
    "FIRST_WAIT_SECONDS": "1",
    "SECONDS_PER_MEGAPIXEL": "2",
    "MAX_WAIT_SECONDS": "10",
    "POLL_BACKOFF_RATE": "1.5",
    "MAX_POLLS": "3",
    "IN_LAMBDA_POLL_SECONDS": "0",
    "IN_LAMBDA_POLL_INTERVAL_SECONDS": "0.25",
    "MAX_IMAGE_BYTES": "5000000",
    "MAX_IMAGE_PIXELS": "20000000",
}
ON_UPLOAD_ENV = {
    **LAYOUT_ENV,
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:OcrStateMachine",
    "ALLOWED_SUFFIXES": "png,jpg,jpeg,tif,tiff,bmp,gif",
}


def load_event(name: str) -> dict[str, Any]:
    """A sample event from ``events/<name>.json`` (the same files ``sam local invoke`` can use)."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def image_bytes(width: int = 64, height: int = 48, fmt: str = "PNG", color: int = 255) -> bytes:
    """A plain grayscale image encoded as ``fmt``."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), color).save(buffer, format=fmt)
    return buffer.getvalue()


def page_image(pixels: np.ndarray, fmt: str = "PNG") -> Image.Image:
    """Round-trip an array through ``fmt`` so tests see what a decoder sees."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    buffer.seek(0)
    return Image.open(buffer)


@dataclass
class FakeStore:
    """In-memory :class:`ObjectStore`."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    content_types: dict[tuple[str, str], str] = field(default_factory=dict)

    def read(
        self, bucket: str, key: str, *, max_bytes: int, version_id: str | None = None, etag: str | None = None
    ) -> bytes:
        data = self.objects[(bucket, key)]
        if len(data) > max_bytes:
            raise ImageTooLarge(f"{len(data)} > {max_bytes}")
        return data

    def write(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None:
        self.objects[(bucket, key)] = body
        self.content_types[(bucket, key)] = content_type

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)
        self.content_types.pop((bucket, key), None)

    def json(self, key: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.objects[(BUCKET, key)])
        return data


@dataclass
class FakeOcr:
    """Scripted :class:`OcrApi`: statuses are served in order per task; results are fixed."""

    statuses: dict[str, list[TaskStatus]] = field(default_factory=dict)
    png: bytes = b""
    text: str = "hello"
    submitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def submit_binarization(self, image: bytes) -> str:
        self.submitted.append(("BinarizeImage", {"bytes": len(image)}))
        return f"task-{len(self.submitted)}"

    def submit_recognition(self, image: bytes, *, language: str, make_binarization: bool) -> str:
        self.submitted.append(
            ("RecognizeImage", {"language": language, "make_binarization": make_binarization})
        )
        return f"task-{len(self.submitted)}"

    def task_status(self, task_id: str) -> OcrResponse:
        queue = self.statuses.get(task_id) or [TaskStatus.COMPLETED]
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        return OcrResponse(task_id=task_id, task_status=status, response_status_code=None, messages=("boom",))

    def binarization_result(self, task_id: str) -> bytes:
        return self.png

    def recognition_result(self, task_id: str) -> str:
        return self.text


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def import_fresh(module: str) -> Any:
    """Import ``module`` anew, so its import-time settings and clients see the current environment."""
    import importlib
    import sys

    sys.modules.pop(module, None)
    return importlib.import_module(module)
