"""Local stack: the pipeline's `template.yaml` running on moto, its functions in worker processes, and the
OCR service. Names are imported lazily, so a worker process (`local_stack.worker`) loads none of it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_stack.executions import ExecutionRecord
    from local_stack.stack import LocalStack, StackError

__all__ = ["ExecutionRecord", "LocalStack", "StackError"]
_MODULES = {"ExecutionRecord": "executions", "LocalStack": "stack", "StackError": "stack"}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"local_stack.{_MODULES[name]}"), name)
