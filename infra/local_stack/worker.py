"""Lambda execution environments: a template process per code directory forks one per cold start.

`python -m local_stack.worker CODE_DIR HANDLER...` is the template (`environments.Template` starts it
with PATH, LANG and LAMBDA_TASK_ROOT only, no function's variables). It imports, once, every module the
handlers import from outside their own package (boto3, Powertools, pydantic, the domain and adapter
modules: found by reading the handler package's `import` statements, never by running it) and
`LAZY_IMPORTS`, parses botocore's data files (`share_botocore_data`), then waits on a Unix socket. Each spawn
request carries a function's whole environment and one end of a socket pair; the template forks, and
the child replaces `os.environ` entirely, imports its handler (module-level clients and settings are
built here, after the fork, from that function's variables) and serves invocations. The reply is the
child's pid and a pidfd, so the runner can watch and kill a process that is not its own child. Nothing
of one function reaches another: the template never imports a handler package nor runs handler code,
and what a child does stays in its copy of the memory.

Invocation protocol: one JSON document per `multiprocessing.connection` message. The environment first
writes `{"ready": true, "init_seconds": s, "init_cpu_seconds": s}` (or `{"ready": false, "error": {...}}`
when the handler cannot be imported), then answers each request `{"request_id", "event",
"deadline_epoch"}` with `{"payload": <JSON text>, "errored": bool, "max_memory_mb": n}`. The handler's
own output (logs, EMF metrics) goes to the process's stdout/stderr, i.e. the stack's Lambda log,
followed by a `REPORT` line as the Lambda runtime writes one.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

FD_VARIABLE = "LOCAL_STACK_WORKER_FD"
_MAX_REQUEST_BYTES = 1 << 20


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
    """Peak resident memory of this process (`VmHWM`; `ru_maxrss` would count the template's too)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


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


def serve(connection: Connection) -> int:
    """Import the handler named by `_HANDLER`, say ready, then answer invocations until EOF."""

    def reply(message: dict[str, Any]) -> None:
        connection.send_bytes(json.dumps(message).encode("utf-8"))

    started = time.monotonic()
    try:
        handler = _load_handler()
    except Exception as exc:
        error = {"errorType": "Runtime.ImportModuleError", "errorMessage": f"{type(exc).__name__}: {exc}"}
        reply({"ready": False, "error": error})
        return 1
    seconds = time.monotonic() - started
    reply({"ready": True, "init_seconds": seconds, "init_cpu_seconds": time.process_time()})
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


# -- the template ----------------------------------------------------------------------------------


def outside_imports(code_dir: Path, handler_module: str) -> set[str]:
    """Modules imported by the handler's package (`a.b` of `a.b.c`) from outside it, read from the
    `import` statements of its files (nothing is executed)."""
    package = handler_module.rpartition(".")[0]
    folder = code_dir.joinpath(*package.split(".")) if package else code_dir
    files = sorted(folder.glob("*.py")) if package else [code_dir / f"{handler_module}.py"]
    found: set[str] = set()
    for file in files:
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
    inside = {package} if package else {handler_module}
    return {
        name
        for name in found
        if name != "__future__" and not any(name == own or name.startswith(f"{own}.") for own in inside)
    }


LAZY_IMPORTS = {"aws_lambda_powertools": ("aws_xray_sdk.core",)}
"""What a library imports on first use rather than at import, preloaded with it: Powertools' `Tracer`
imports the X-Ray SDK when created (0.02 CPU s of each cold start). The recorder the SDK builds at import
reads `LAMBDA_TASK_ROOT`, which the template has: the code directory, as every function of it has."""


def preloaded(code_dir: Path, handler_modules: list[str]) -> list[str]:
    """What the template imports: what the handlers import from outside their packages, and the
    `LAZY_IMPORTS` of those libraries."""
    names = set().union(*(outside_imports(code_dir, h) for h in handler_modules))
    for library, lazy in LAZY_IMPORTS.items():
        if any(name == library or name.startswith(f"{library}.") for name in names):
            names.update(lazy)
    return sorted(names)


def preload(code_dir: Path, handler_modules: list[str]) -> list[str]:
    """Import `preloaded(code_dir, handler_modules)`; the names that failed."""
    failed = []
    for name in preloaded(code_dir, handler_modules):
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    return failed


BOTOCORE_SERVICES = ("s3", "dynamodb", "stepfunctions", "secretsmanager")
"""Services of the stack's resources that functions call: their models are parsed once, in the template."""
_BOTOCORE_DATA = ("endpoints", "partitions", "_retry", "sdk-default-configuration")


def share_botocore_data(services: tuple[str, ...] = BOTOCORE_SERVICES) -> bool:
    """Parse botocore's data files (endpoints, retry rules, the `services`' models) once, in the template,
    into one loader per data path that every botocore session of the process then uses (botocore keeps
    one per session: each cold start parsed the same JSON again, half its CPU). Nothing of it depends on
    a function: a loader holds only what it read from botocore's own files. False without botocore."""
    try:
        import botocore.loaders
        import botocore.session
    except ImportError:
        return False
    loaders: dict[str | None, Any] = {}
    create = botocore.loaders.create_loader

    def shared_loader(search_path_string: str | None = None) -> Any:
        if search_path_string not in loaders:
            loaders[search_path_string] = create(search_path_string)
        return loaders[search_path_string]

    botocore.session.create_loader = shared_loader
    loader = shared_loader(None)  # the data path of a session without AWS_DATA_PATH
    for name in _BOTOCORE_DATA:
        loader.load_data(name)
    for service in services:
        for kind in ("service-2", "endpoint-rule-set-1"):
            loader.load_service_model(service, kind)
    return True


def _child(request: dict[str, Any], connection_fd: int) -> int:
    """In the forked child: become the function's environment, then serve."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    os.chdir(request["cwd"])
    return serve(Connection(connection_fd))


def template(control: socket.socket) -> int:
    """Fork an execution environment per spawn request until the runner closes `control`."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the stack, which kills the environments
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, _MAX_REQUEST_BYTES, 1)
        except OSError:
            return 0
        if not message:
            return 0
        request = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            control.close()
            code = 1
            try:
                code = _child(request, fds[0])
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(fds[0])
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
        finally:
            os.close(pidfd)


def main(argv: list[str]) -> int:
    code_dir, handlers = Path(argv[0]), argv[1:]
    control = socket.socket(fileno=int(os.environ.pop(FD_VARIABLE)))
    failed = preload(code_dir, [h.rpartition(".")[0] for h in handlers])
    try:
        share_botocore_data()
    except Exception as exc:  # each session then parses botocore's data itself, as botocore does
        print(f"worker template: botocore data not shared: {type(exc).__name__}: {exc}", file=sys.stderr)
    if failed:
        print(f"worker template: not preloaded (imported after the fork): {failed}", file=sys.stderr)
    return template(control)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
