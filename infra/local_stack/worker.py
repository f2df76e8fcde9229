"""One Lambda execution environment: a process that imports one handler and runs it, one event at a time.

Started by `runner.Worker` as `python -m local_stack.worker` with the function's environment variables
only (no variable of the parent leaks in) and one end of a socket pair in `LOCAL_STACK_WORKER_FD`.
Protocol: one JSON document per `multiprocessing.connection` message. The worker first writes
`{"ready": true, "init_seconds": s}` (or `{"ready": false, "error": {...}}` when the handler cannot
be imported), then answers each request `{"request_id", "event", "deadline_epoch"}` with
`{"payload": <JSON text>, "errored": bool, "max_memory_mb": n}`. The handler's own output (logs,
EMF metrics) goes to the process's stdout/stderr, i.e. the stack's Lambda log, followed by a `REPORT`
line as the Lambda runtime writes one.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

FD_VARIABLE = "LOCAL_STACK_WORKER_FD"


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
    deadline_epoch: float

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's configured timeout."""
        return max(0, int((self.deadline_epoch - time.time()) * 1000))


def error_payload(error_type: str, message: str, stack: list[str] | None = None) -> str:
    """Lambda's error document."""
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": stack or []})


def _max_memory_mb() -> int:
    """Peak resident memory of this process (`VmHWM`; `ru_maxrss` would include the pre-exec parent)."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _load_handler() -> Any:
    module_name, _, attribute = os.environ["_HANDLER"].rpartition(".")
    module = importlib.import_module(module_name)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"module {module_name!r} has no callable {attribute!r}")
    return handler


def _run(handler: Any, request: dict[str, Any]) -> tuple[str, bool]:
    name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    request_id = str(request["request_id"])
    context = LambdaContext(
        function_name=name,
        function_version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        invoked_function_arn=str(request.get("function_arn", "")),
        memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        aws_request_id=request_id,
        log_group_name=os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}"),
        log_stream_name=f"local/{os.getpid()}",
        deadline_epoch=float(request["deadline_epoch"]),
    )
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
        return error_payload(type(exc).__name__, str(exc), stack), True
    try:
        return json.dumps(result), False
    except (TypeError, ValueError) as exc:
        return error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}"), True


def main() -> int:
    connection = Connection(int(os.environ.pop(FD_VARIABLE)))

    def reply(message: dict[str, Any]) -> None:
        connection.send_bytes(json.dumps(message).encode("utf-8"))

    started = time.monotonic()
    try:
        handler = _load_handler()
    except Exception as exc:
        error = {"errorType": "Runtime.ImportModuleError", "errorMessage": f"{type(exc).__name__}: {exc}"}
        reply({"ready": False, "error": error})
        return 1
    reply({"ready": True, "init_seconds": time.monotonic() - started})
    memory_size = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    while True:
        try:
            request = json.loads(connection.recv_bytes())
        except EOFError:
            return 0
        began = time.monotonic()
        payload, errored = _run(handler, request)
        milliseconds = (time.monotonic() - began) * 1000
        used = _max_memory_mb()
        sys.stdout.flush()
        print(
            f"REPORT RequestId: {request['request_id']}\tDuration: {milliseconds:.2f} ms\t"
            f"Memory Size: {memory_size} MB\tMax Memory Used: {used} MB",
            flush=True,
        )
        reply({"payload": payload, "errored": errored, "max_memory_mb": used})


if __name__ == "__main__":
    sys.exit(main())
