"""Shared test helpers for the pipeline: event fixtures, environments, images, in-memory fakes."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ocr_pipeline.domain.ports import OcrResponse, OcrResult, TaskStatus
from ocr_pipeline.errors import ImageTooLarge, InvalidImage

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
BUCKET = "ocr-drop-123456789012-us-east-1"

LAYOUT_ENV = {
    "INPUT_PREFIX": "incoming/",
    "TEXT_PREFIX": "text/",
    "BINARIZED_PREFIX": "binarized/",
    "DESKEWED_PREFIX": "deskewed/",
    "UPSCALED_PREFIX": "upscaled/",
    "RESULT_PREFIX": "results/",
    "FAILED_PREFIX": "failed/",
    "SUBMISSION_PREFIX": "submissions/",
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
    "PREPROCESSING": "binarize",
    "FIRST_WAIT_SECONDS": "1",
    "SECONDS_PER_MEGAPIXEL": "2",
    "RECOGNITION_SECONDS_PER_MEGAPIXEL": "4",
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
    """In-memory :class:`ObjectStore`; ``fail_writes_under`` makes writes under a prefix raise."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    content_types: dict[tuple[str, str], str] = field(default_factory=dict)
    fail_writes_under: str | None = None

    def read(
        self, bucket: str, key: str, *, max_bytes: int, version_id: str | None = None, etag: str | None = None
    ) -> bytes:
        if (bucket, key) not in self.objects:
            raise InvalidImage(f"s3://{bucket}/{key} no longer exists")
        data = self.objects[(bucket, key)]
        if len(data) > max_bytes:
            raise ImageTooLarge(f"{len(data)} > {max_bytes}")
        return data

    def write(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None:
        if self.fail_writes_under is not None and key.startswith(self.fail_writes_under):
            raise OSError(f"injected write failure for {key}")
        self.objects[(bucket, key)] = body
        self.content_types[(bucket, key)] = content_type

    def read_optional(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        return self.objects.get((bucket, key))

    def create(self, bucket: str, key: str, body: bytes, *, content_type: str) -> bool:
        if (bucket, key) in self.objects:
            return False
        self.write(bucket, key, body, content_type=content_type)
        return True

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)

    def json(self, key: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.objects[(BUCKET, key)])
        return data

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for b, k in self.objects if b == BUCKET and k.startswith(prefix))


@dataclass
class FakeOcr:
    """Scripted :class:`OcrApi`: statuses served in order per task; ``post_errors`` raised by POSTs in turn.

    Results are fixed: ``png`` for image operations, ``text`` for recognition.
    """

    statuses: dict[str, list[TaskStatus]] = field(default_factory=dict)
    png: bytes = b""
    text: str = "hello"
    submitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    post_errors: list[Exception] = field(default_factory=list)
    get_errors: list[Exception] = field(default_factory=list)
    gets: list[tuple[str, str]] = field(default_factory=list)

    accepted: list[str] = field(default_factory=list)

    def _post(self, operation: str, details: dict[str, Any]) -> str:
        self.submitted.append((operation, details))
        if self.post_errors:
            raise self.post_errors.pop(0)
        task_id = f"task-{len(self.submitted)}"
        self.accepted.append(task_id)
        return task_id

    def submit_image(self, operation: str, image: bytes) -> str:
        return self._post(operation, {"bytes": len(image)})

    def submit_recognition(self, image: bytes, *, language: str, make_binarization: bool) -> str:
        return self._post("RecognizeImage", {"language": language, "make_binarization": make_binarization})

    def result(self, operation: str, task_id: str) -> OcrResponse:
        self.gets.append((operation, task_id))
        if self.get_errors:
            raise self.get_errors.pop(0)
        queue = self.statuses.get(task_id) or [TaskStatus.COMPLETED]
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        results: tuple[OcrResult, ...] = ()
        if status is TaskStatus.COMPLETED:
            data = self.text.encode("utf-8") if operation == "RecognizeImage" else self.png
            results = (OcrResult(type="Text" if operation == "RecognizeImage" else "ImagePNG", data=data),)
        return OcrResponse(
            task_id=task_id,
            task_status=status,
            response_status_code=None,
            results=results,
            messages=("boom",),
        )


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
