"""Local stack: the pipeline's `template.yaml` running on moto, in-process handlers and the OCR service."""

from __future__ import annotations

from local_stack.executions import ExecutionRecord
from local_stack.stack import LocalStack, StackError

__all__ = ["ExecutionRecord", "LocalStack", "StackError"]
