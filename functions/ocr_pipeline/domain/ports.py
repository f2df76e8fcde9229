"""What the domain needs from the outside world, and the OCR API's typed results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


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

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object; no error if it does not exist."""
        ...


class OcrApi(Protocol):
    """The asynchronous OCR operations the pipeline uses."""

    def submit_binarization(self, image: bytes) -> str:
        """POST ``BinarizeImage``; return the task id."""
        ...

    def submit_recognition(self, image: bytes, *, language: str, make_binarization: bool) -> str:
        """POST ``RecognizeImage`` with plain-text output; return the task id."""
        ...

    def task_status(self, task_id: str) -> OcrResponse:
        """``GetTaskStatus``: the task's state without its results."""
        ...

    def binarization_result(self, task_id: str) -> bytes:
        """The PNG of a completed ``BinarizeImage`` task."""
        ...

    def recognition_result(self, task_id: str) -> str:
        """The text of a completed ``RecognizeImage`` task."""
        ...


class WorkflowStarter(Protocol):
    """Starts named workflow executions, exactly once per name."""

    def start(self, name: str, payload: Mapping[str, Any]) -> bool:
        """Start execution ``name``; return ``False`` if one with that name already exists."""
        ...
