"""What the domain needs from the outside world, and the OCR API's typed results."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

Clock = Callable[[], datetime]
"""The time source the domain records times with."""


class TaskStatus(StrEnum):
    """``OCRTaskStatus`` of the Aspose.OCR Cloud v5 API."""

    PENDING = "Pending"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    ERROR = "Error"
    NOT_EXIST = "NotExist"

    @property
    def running(self) -> bool:
        """Whether the task may still complete."""
        return self in (TaskStatus.PENDING, TaskStatus.PROCESSING)


@dataclass(frozen=True, slots=True)
class OcrResult:
    """One entry of ``OCRResponse.results``: a type name and its decoded payload."""

    type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OcrResponse:
    """An ``OCRResponse`` (GET of an operation, or ``GetTaskStatus`` which carries no results)."""

    task_id: str
    task_status: TaskStatus
    response_status_code: str | None
    results: tuple[OcrResult, ...] = ()
    messages: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class ObjectStore(Protocol):
    """Bytes in a bucket."""

    def read(
        self, bucket: str, key: str, *, max_bytes: int, version_id: str | None = None, etag: str | None = None
    ) -> bytes:
        """Return the bytes of that version (and eTag) of the object; raise ``ImageTooLarge`` above
        ``max_bytes`` without reading them all, ``InvalidImage`` if it is gone or was replaced."""
        ...

    def write(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None:
        """Create or replace an object."""
        ...

    def read_optional(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        """Return the object's bytes, or ``None`` if there is no such object."""
        ...

    def create(self, bucket: str, key: str, body: bytes, *, content_type: str) -> bool:
        """Create the object only if the key is free (``If-None-Match: *``); ``False`` if it exists."""
        ...

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object (no error if it is gone)."""
        ...


class OcrApi(Protocol):
    """The asynchronous OCR operations the pipeline uses."""

    def submit_image(self, operation: str, image: bytes) -> str:
        """POST an image-only operation (Binarize/Deskew/UpscaleImage); return the task id."""
        ...

    def submit_recognition(self, image: bytes, *, language: str, make_binarization: bool) -> str:
        """POST ``RecognizeImage`` with plain-text output; return the task id."""
        ...

    def result(self, operation: str, task_id: str) -> OcrResponse:
        """GET ``operation`` for ``task_id``: its state, and its results once ``Completed``."""
        ...


class WorkflowStarter(Protocol):
    """Starts named workflow executions, exactly once per name."""

    def start(self, name: str, payload: Mapping[str, Any]) -> bool:
        """Start execution ``name``; return ``False`` if one with that name already exists."""
        ...
