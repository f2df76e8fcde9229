"""Failure records: every execution that does not succeed leaves ``failed/<rel>.json``."""

from __future__ import annotations

import json
from typing import Any

from ocr_pipeline.domain.job import Clock, json_bytes, keys_of
from ocr_pipeline.domain.ports import ObjectStore
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.settings import LayoutSettings

MAX_MESSAGE_CHARS = 4000


def _cause_message(cause: object) -> str:
    """The human part of a Step Functions ``Cause`` (a Lambda error's JSON, or free text)."""
    if not isinstance(cause, str):
        return "" if cause is None else str(cause)[:MAX_MESSAGE_CHARS]
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause[:MAX_MESSAGE_CHARS]
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])[:MAX_MESSAGE_CHARS]
    return cause[:MAX_MESSAGE_CHARS]


def record_failure(
    state: dict[str, Any],
    *,
    execution: str,
    status: str,
    store: ObjectStore,
    layout: LayoutSettings,
    clock: Clock,
) -> dict[str, Any]:
    """Write the failure record of one execution from its state (``object``, optional ``job``, ``error``).

    ``error`` is what a ``Catch`` put there (``Error``, ``Cause``); ``status`` is ``FAILED``,
    ``TIMED_OUT`` or ``ABORTED``. Returns the record's location and error type.
    """
    obj = ObjectRef.from_payload(state["object"])
    job = state.get("job") or {}
    error = state.get("error") or {}
    keys = keys_of(obj, layout)
    error_type = str(error.get("Error") or status)
    record = {
        "status": status,
        "bucket": obj.bucket,
        "input": {"key": obj.key, "version_id": obj.version_id, "etag": obj.etag},
        "execution": execution,
        "stage": job.get("stage", "submit"),
        "error_type": error_type,
        "message": _cause_message(error.get("Cause")),
        "task_id": job.get("task_id"),
        "attempts": {"polls": job.get("polls", 0), "total_polls": job.get("total_polls", 0)},
        "tasks": job.get("tasks", {}),
        "failed_at": clock().isoformat(timespec="milliseconds"),
    }
    store.write(obj.bucket, keys.failed, json_bytes(record), content_type="application/json")
    return {"failed_key": keys.failed, "error_type": error_type}
