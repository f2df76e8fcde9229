"""Run moto's Lambda invocations in-process with the real handlers.

Every moto invocation path (the Invoke API used by Step Functions tasks, S3 notifications, SQS event
source mappings) ends in `moto.awslambda.models.LambdaFunction._invoke_lambda(self, event)`, which
would otherwise start a Docker container. `install` replaces that one method with `InProcessRunner.invoke`;
`uninstall` puts the original back. The hook point is private, so `install` checks it and fails loudly
when a moto upgrade moves it.

Lambda environment variables are process-global here, so invocations are serialised: one handler runs
at a time, with its function's variables set, and the previous values are restored afterwards. A
variable that did not exist before is not deleted after the invocation but only when the runner is
closed: moto's threads copy `os.environ` at any time (botocore does when it builds a credential chain),
and a deletion during such a copy raises `KeyError` in them. Until then a later function can see a
variable an earlier one introduced, with the earlier value.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

log = logging.getLogger(__name__)

PINNED_MOTO_VERSION = "5.2.5"
HOOK_TARGET = "moto.awslambda.models.LambdaFunction._invoke_lambda"
_MAX_RECORDS = 100_000

Handler = Callable[[Any, Any], Any]


class HookError(RuntimeError):
    """The moto hook point is missing or has changed shape; the local stack cannot run handlers."""


class HandlerImportError(RuntimeError):
    """A function's `Handler` names a module or attribute that cannot be imported."""


@dataclass
class LambdaContext:
    """The subset of the Lambda context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float = field(repr=False)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's configured timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class InvocationRecord:
    """One handler call, for progress reports and cost figures."""

    function_name: str
    request_id: str
    seconds: float
    errored: bool
    error_type: str | None


def _error_payload(error_type: str, message: str, stack: list[str] | None = None) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": stack or []})


def as_aws_s3_event(event: Any) -> Any:
    """Re-encode S3 notification keys the way S3 does (`quote_plus` keeping `/`).

    moto encodes `/` as `%2F`; S3 leaves it as is (`incoming/red flower.jpg` → `incoming/red+flower.jpg`).
    Other events are returned unchanged.
    """
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return event
    for record in event["Records"]:
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            continue
        obj = record.get("s3", {}).get("object", {})
        if isinstance(obj.get("key"), str):
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    return event


class InProcessRunner:
    """Runs Lambda handlers in this process, one at a time, each with its own function's environment.

    `base_environment` is applied under every function's variables (endpoint, dummy credentials...);
    `lock_timeout_seconds` bounds the wait for another invocation to finish (a nested synchronous
    invocation would otherwise deadlock): on expiry the call fails as `TooManyRequestsException`,
    which Step Functions' standard Lambda retries match.
    """

    def __init__(self, base_environment: Mapping[str, str] | None = None, lock_timeout_seconds: float = 300):
        self._base_environment = dict(base_environment or {})
        self._introduced: set[str] = set()
        self._lock_timeout = lock_timeout_seconds
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}
        self._records: deque[InvocationRecord] = deque(maxlen=_MAX_RECORDS)

    @property
    def records(self) -> list[InvocationRecord]:
        """Invocations so far (oldest first, bounded)."""
        return list(self._records)

    def close(self) -> None:
        """Wait (bounded) for a running invocation, then remove the variables invocations introduced.

        Call it after `uninstall`, so that no new invocation can start.
        """
        acquired = self._lock.acquire(timeout=self._lock_timeout)
        try:
            for key in self._introduced:
                os.environ.pop(key, None)
            self._introduced.clear()
        finally:
            if acquired:
                self._lock.release()

    def add_code_path(self, path: Path) -> None:
        """Make a function's `CodeUri` importable (no-op if it already is)."""
        text = str(path)
        if text not in sys.path:
            sys.path.append(text)

    def invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        """Run `function`'s handler on `event`; return (payload JSON, errored, log text) like moto."""
        if isinstance(event, (str, bytes)):
            event = json.loads(event) if event else {}
        event = as_aws_s3_event(event)
        name = str(function.function_name)
        request_id = str(uuid.uuid4())
        if not self._lock.acquire(timeout=self._lock_timeout):
            payload = _error_payload("TooManyRequestsException", f"{name}: local runner busy")
            self._finish(name, request_id, 0.0, payload, errored=True)
            return payload, True, ""
        started = time.monotonic()
        try:
            payload, errored = self._run_locked(function, event, request_id, started)
        finally:
            self._lock.release()
        self._finish(name, request_id, time.monotonic() - started, payload, errored)
        return payload, errored, f"RequestId: {request_id}"

    def _finish(self, name: str, request_id: str, seconds: float, payload: str, errored: bool) -> None:
        error_type = None
        if errored:
            error = json.loads(payload)
            error_type = str(error.get("errorType"))
            log.error(
                "lambda invocation failed: %s %s: %s",
                name,
                error_type,
                str(error.get("errorMessage"))[:500],
                extra={
                    "function": name,
                    "request_id": request_id,
                    "error_type": error_type,
                    "error_message": str(error.get("errorMessage"))[:500],
                },
            )
        self._records.append(InvocationRecord(name, request_id, seconds, errored, error_type))

    def _run_locked(self, function: Any, event: Any, request_id: str, started: float) -> tuple[str, bool]:
        timeout = float(function.timeout)
        context = LambdaContext(
            function_name=str(function.function_name),
            function_version=str(function.version),
            invoked_function_arn=str(function.function_arn),
            memory_limit_in_mb=int(function.memory_size),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{function.function_name}",
            log_stream_name=f"local/{request_id}",
            deadline=started + timeout,
        )
        with _environment(self._environment_for(function), self._introduced):
            try:
                handler = self._handler(str(function.function_name), str(function.handler))
                result = handler(event, context)
            except Exception as exc:
                stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
                return _error_payload(type(exc).__name__, str(exc), stack), True
        if time.monotonic() - started > timeout:
            message = f"{request_id} Task timed out after {timeout:.2f} seconds"
            return _error_payload("Sandbox.Timedout", message), True
        try:
            return json.dumps(result), False
        except (TypeError, ValueError) as exc:
            return _error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}"), True

    def _environment_for(self, function: Any) -> dict[str, str]:
        name = str(function.function_name)
        region = str(function.region)
        env = dict(self._base_environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "_HANDLER": str(function.handler),
            }
        )
        env.update({str(k): str(v) for k, v in (function.environment_vars or {}).items()})
        # No X-Ray daemon exists locally: tracing stays off whatever the template says.
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
        return env

    def _handler(self, function_name: str, handler_path: str) -> Handler:
        cached = self._handlers.get(function_name)
        if cached is not None:
            return cached
        module_name, _, attribute = handler_path.rpartition(".")
        if not module_name:
            raise HandlerImportError(f"{function_name}: Handler {handler_path!r} is not module.function")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise HandlerImportError(f"{function_name}: cannot import {module_name}: {exc}") from exc
        found = getattr(module, attribute, None)
        if not callable(found):
            raise HandlerImportError(f"{function_name}: {module_name} has no callable {attribute!r}")
        handler: Handler = found
        self._handlers[function_name] = handler
        return handler


class _environment:
    """Set variables for the duration of a block; restore those that existed, record those that did not.

    Keys that did not exist are added to `introduced` and left set (see the module docstring).
    """

    def __init__(self, variables: Mapping[str, str], introduced: set[str]):
        self._variables = variables
        self._introduced = introduced
        self._saved: dict[str, str] = {}

    def __enter__(self) -> None:
        for key, value in self._variables.items():
            previous = os.environ.get(key)
            if previous is None:
                self._introduced.add(key)
            elif key not in self._introduced:
                self._saved[key] = previous
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, previous in self._saved.items():
            os.environ[key] = previous


_original: Any = None


def check_hook_point(target: Any = None) -> None:
    """Raise `HookError` unless `_invoke_lambda(self, event)` exists on moto's LambdaFunction."""
    import moto
    from moto.awslambda import models

    owner = target if target is not None else getattr(models, "LambdaFunction", None)
    method = getattr(owner, "_invoke_lambda", None)
    hint = f"the local stack is pinned to moto=={PINNED_MOTO_VERSION} (installed: {moto.__version__})"
    if method is None or not callable(method):
        raise HookError(f"{HOOK_TARGET} not found; {hint}")
    parameters = list(inspect.signature(method).parameters)
    if parameters[:2] != ["self", "event"]:
        raise HookError(f"{HOOK_TARGET} has signature {parameters}, expected (self, event); {hint}")
    if moto.__version__ != PINNED_MOTO_VERSION:
        log.warning("unpinned moto version", extra={"installed": moto.__version__})


def install(runner: InProcessRunner) -> None:
    """Route every moto Lambda invocation to `runner` (idempotent; the latest runner wins)."""
    global _original
    from moto.awslambda.models import LambdaFunction

    check_hook_point(LambdaFunction)
    if _original is None:
        _original = LambdaFunction._invoke_lambda

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return runner.invoke(self, event)

    setattr(LambdaFunction, "_invoke_lambda", _invoke_lambda)  # noqa: B010 - patching a method


def uninstall() -> None:
    """Restore moto's own `_invoke_lambda`."""
    global _original
    from moto.awslambda.models import LambdaFunction

    if _original is not None:
        setattr(LambdaFunction, "_invoke_lambda", _original)  # noqa: B010 - patching a method
        _original = None
