"""What the OCR service and the bucket say after a run: POSTs, accepted tasks, stored records."""

from __future__ import annotations

import json

from local_stack.stack import LocalStack


def posts(stack: LocalStack, operation: str) -> int:
    """POST requests the service served for `operation` (e.g. ``BinarizeImage``)."""
    return int(stack.ocr.stats()["requests"].get(f"POST {operation}", 0))


def stored_tasks(stack: LocalStack) -> int:
    """Tasks the service accepted (every status; the queue depth is not a task)."""
    counts = stack.ocr.stats()["tasks"]
    return sum(int(n) for status, n in counts.items() if status != "queued")


def read_json(stack: LocalStack, key: str) -> dict[str, object]:
    """A JSON record from the stack's bucket."""
    data: dict[str, object] = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
    return data
