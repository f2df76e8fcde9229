"""Local stack: the pipeline's `template.yaml` running on moto, its functions in worker processes, and the
OCR service. Names are imported lazily, so a worker process (`local_stack.worker`) loads none of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_stack.executions import ExecutionRecord
    from local_stack.stack import LocalStack, StackError

__all__ = ["ExecutionRecord", "LocalStack", "StackError"]


def __getattr__(name: str) -> Any:
    if name == "ExecutionRecord":
        from local_stack.executions import ExecutionRecord

        return ExecutionRecord
    if name in ("LocalStack", "StackError"):
        from local_stack import stack

        return getattr(stack, name)
    raise AttributeError(name)
