"""moto in server mode on loopback, configured to execute state machines for real."""

from __future__ import annotations

import copy
import functools
import logging
import os
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cheroot import wsgi
from moto.core.request import (
    PRESERVED_HEADER_NAMES_ENVIRON_KEY,
    environ_key_for_header,
    should_preserve_original_header_name,
)
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local_stack.cfn import HOST, PortInUse

log = logging.getLogger(__name__)

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Only stepfunctions is changed. `lambda.use_docker=false` is deliberately NOT set: it makes moto route the
# Invoke API (used by Step Functions tasks) to LambdaSimpleBackend.invoke, which echoes the payload and
# never reaches the hooked `_invoke_lambda`.
MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}
S3_MEMORY_BYTES = {"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(16 * 1024)}
"""moto keeps an object body in memory up to this size, then in a temporary file: a drop of N images
costs disk, not resident memory, in N (moto's default keeps every body under 5 MiB in memory). 16 KiB
puts the images (uploads, binarized pages: 30 KiB and more) on disk and keeps texts, result records and
markers (1-3 KiB, 0.3 KiB) in memory: each body on disk holds an open file."""
THREADS = 64
"""Threads answering requests at once (an idle keep-alive connection holds none)."""
_IDLE_SECONDS = 10
MALLOC_ARENAS = 2
"""glibc arenas for this process (`mallopt(M_ARENA_MAX)`, what `MALLOC_ARENA_MAX` sets at start).
moto's interpreter runs three threads per running execution (a burst of N runs N executions at once);
glibc would give them up to 8 arenas per core, and what one arena frees the others cannot reuse: a
burst of 200 peaked at 611 MiB with glibc's default, 525 MiB with 2 arenas."""
_M_ARENA_MAX = -8


TRIM_SECONDS = 1.0
"""How often the stack hands the memory glibc's malloc holds free back to the system (`malloc_trim`).
glibc returns freed memory by itself only from the top of a heap: what is freed below a block still in
use stays resident. A burst frees a lot that way (requests, parsed JSON, the threads of executions that
ended, while others still run): at the peak of bursts of 100 and 300 objects, 65-77 MiB of the bench
process's 515-525 MiB were such free memory (`malloc_trim(0)` gave them back at once; `mallinfo2`
counted 84-119 MiB free in the arenas against 96-99 MiB in use), and as much after every execution had
ended. Trimming costs a walk of the arenas' free lists (milliseconds) and a page fault when a page is
used again."""


@functools.cache
def _glibc() -> Any:
    """The C library, when it is glibc (whose malloc these tunings are for); else None."""
    import ctypes
    import ctypes.util
    import platform

    if platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process unless `MALLOC_ARENA_MAX` (or a glibc tunable) is set;
    True if capped. Effective for arenas created afterwards: call it before the threads start."""
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    if "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def trim_free_memory() -> bool:
    """Give the pages glibc's malloc holds free back to the system (`malloc_trim(0)`: every arena, the
    middle of its heaps too); True if any page was given back. Nothing to do off glibc."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


class FreeMemoryTrimmer:
    """Calls `trim_free_memory` at `start` (what starting the stack freed), then every `period` seconds
    in a thread of its own until `stop`."""

    def __init__(self, period: float = TRIM_SECONDS) -> None:
        self.period = period
        self.trims = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if _glibc() is None or self._thread is not None:
            return
        trim_free_memory()
        self.trims += 1
        self._thread = threading.Thread(target=self._run, name="local-stack-trim", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            trim_free_memory()
            self.trims += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.period + 5)


OPEN_FILES = 65536
"""Open files wanted: each object body over `S3_MEMORY_BYTES` holds one (a drop of N images: 2N)."""


def raise_open_files_limit(wanted: int = OPEN_FILES) -> int:
    """Raise this process's soft limit of open files towards `wanted` (never above the hard limit, never
    lower); return the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


MAX_REQUEST_KINDS = 256
"""Distinct `service operation` names counted (they come from requests: bounded); the rest is `other`."""


def request_kind(environ: Mapping[str, Any]) -> str:
    """`service operation` of an AWS request: the service from its signature's credential scope (the
    `Authorization` header, or a presigned URL's `X-Amz-Credential`), the operation from `X-Amz-Target`
    (JSON protocols: DynamoDB, Step Functions, Secrets Manager) or, for the REST ones (S3), the HTTP
    method."""
    credential = str(environ.get("HTTP_AUTHORIZATION", "")).partition("Credential=")[2].split(",")[0]
    if not credential:
        credential = parse_qs(str(environ.get("QUERY_STRING", ""))).get("X-Amz-Credential", [""])[0]
    scope = credential.split("/")
    service = scope[3] if len(scope) > 3 else "unsigned"
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    return f"{service} {target.rpartition('.')[2] if target else environ.get('REQUEST_METHOD', '?')}"


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, finding each host's backend once: moto tries every backend's URL patterns (a
    regex each, hundreds) for every request, under one lock. It counts the requests it serves by
    `request_kind`: what the same work costs in AWS requests."""

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self.backends: dict[str | None, Any] = {}
        self.requests: Counter[str] = Counter()
        self._requests_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        kind = request_kind(environ)
        with self._requests_lock:
            if kind not in self.requests and len(self.requests) >= MAX_REQUEST_KINDS:
                kind = "other"
            self.requests[kind] += 1
        return super().__call__(environ, start_response)

    def counted(self) -> dict[str, int]:
        """A copy of the request counts."""
        with self._requests_lock:
            return dict(self.requests)

    def get_backend_for_host(self, host: str | None) -> Any:
        if host in self.backends:
            return self.backends[host]
        backend = super().get_backend_for_host(host)
        if len(self.backends) < 256:  # hosts come from requests: bounded
            self.backends[host] = backend
        return backend


class _Gateway(wsgi.Gateway_10):
    """WSGI environ as moto's own request handler builds it: a header with an underscore in its name is
    dropped, unless it is S3 user metadata (`x-amz-meta-a_b`), which keeps its spelling."""

    # cheroot's stubs declare `get_environ` untyped, returning None.
    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]
        environ: dict[str, Any] = super().get_environ()  # type: ignore[no-untyped-call]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.req.inheaders.items()]
        kept: dict[str, str] = {}
        for name, value in sorted(headers, key=lambda header: "_" not in header[0]):  # dashed ones last
            key = environ_key_for_header(name)
            environ.pop(key, None)
            if "_" not in name:  # an underscored header never stands in for a dashed one
                environ[key] = value
                kept.pop(key, None)
            elif should_preserve_original_header_name(name):
                environ[key] = value
                kept.setdefault(key, name)
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = kept
        return environ


class HttpServer:
    """moto's WSGI app served by cheroot: a thread pool and HTTP/1.1 keep-alive (moto's own
    `ThreadedMotoServer`, werkzeug's development server, starts a thread and closes the connection for
    every request). The socket is bound before `start` returns: a taken port fails at once."""

    def __init__(self, port: int) -> None:
        self.dispatcher = _Dispatcher()
        self.httpd = wsgi.Server((HOST, port), self.dispatcher, numthreads=THREADS, timeout=_IDLE_SECONDS)
        self.httpd.gateway = _Gateway
        self.thread: threading.Thread | None = None

    def start(self) -> int:
        """Bind, serve in a thread, return the bound port."""
        try:
            self.httpd.prepare()
        except OSError as exc:
            raise PortInUse(int(self.httpd.bind_addr[1])) from exc
        self.thread = threading.Thread(target=self.httpd.serve, name="moto-server", daemon=True)
        self.thread.start()
        return int(self.httpd.bind_addr[1])

    def stop(self) -> None:
        self.httpd.stop()
        if self.thread is not None:
            self.thread.join(_IDLE_SECONDS)


@dataclass
class MotoServer:
    """A running moto server; `endpoint` is its base URL."""

    server: HttpServer
    port: int
    previous_config: dict[str, Any] = field(default_factory=dict)
    previous_environment: dict[str, str | None] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def requests(self) -> dict[str, int]:
        """Requests served so far by `request_kind` (`s3 PUT`, `dynamodb GetItem`, ...)."""
        return self.server.dispatcher.counted()

    def environment(self, region: str) -> dict[str, str]:
        """Variables that point boto3 (and moto's own Step Functions → Lambda client) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "MOTO_PORT": str(self.port),
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            **DUMMY_CREDENTIALS,
        }

    def stop(self) -> None:
        """Stop the server and restore moto's process-wide configuration and the variables it exported."""
        from moto.core.config import default_user_config

        self.server.stop()
        logging.getLogger(STATE_ERROR_LOGGER).removeFilter(_STATE_ERRORS)
        for section, value in self.previous_config.items():
            default_user_config[section] = value  # type: ignore[literal-required]
        for key, previous in self.previous_environment.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
        self.previous_environment.clear()

    def export(self, region: str) -> None:
        """Set `environment(region)` (and moto's S3 memory bound, unless set) process-wide until `stop()`.

        They must stay put while the server runs: moto's Step Functions threads build boto3 clients from
        them at any time, and botocore reads a variable with a check-then-get that a concurrent removal
        turns into a `KeyError`.
        """
        memory_bound = {key: os.environ.get(key, value) for key, value in S3_MEMORY_BYTES.items()}
        for key, value in {**memory_bound, **self.environment(region)}.items():
            self.previous_environment.setdefault(key, os.environ.get(key))
            os.environ[key] = value


STATE_ERROR_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"
STATE_ERROR_CHARS = 300


class StateErrorSummary(logging.Filter):
    """moto's interpreter logs every state that fails (an execution's Fail state too) as the error and the
    repr of the state's whole parse tree, kilobytes a line: the line keeps the error's first
    `STATE_ERROR_CHARS` characters (the execution's history holds all of it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "%s at '%s'" and isinstance(record.args, tuple) and len(record.args) == 2:
            record.msg, record.args = "state failed: %s", (str(record.args[0])[:STATE_ERROR_CHARS],)
        return True


_STATE_ERRORS = StateErrorSummary()


def start_moto(port: int = 0) -> MotoServer:
    """Start moto on 127.0.0.1 (`port=0`: a free port), reset its state and apply `MOTO_CONFIG` (moto's
    state and configuration are this process's: set here, not through its `/moto-api` endpoints).

    Also exports `MOTO_PORT`: moto's Step Functions interpreter calls Lambda at `localhost:$MOTO_PORT`.
    """
    from moto.core.config import default_user_config
    from moto.moto_api._internal.models import moto_api_backend

    previous = {section: copy.deepcopy(default_user_config.get(section, {})) for section in MOTO_CONFIG}
    server = HttpServer(port)
    running = MotoServer(server, server.start(), previous)
    running.previous_environment["MOTO_PORT"] = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(running.port)
    logging.getLogger(STATE_ERROR_LOGGER).addFilter(_STATE_ERRORS)
    try:
        moto_api_backend.reset()
        moto_api_backend.set_config(MOTO_CONFIG)
        _parse_models()
    except Exception:
        running.stop()
        raise
    log.info("moto server started", extra={"endpoint": running.endpoint})
    return running


MODELS = ("s3", "dynamodb", "stepfunctions", "secretsmanager")
"""Services the functions call at once in a burst, whose botocore models moto's server parses at start."""


def _parse_models(services: tuple[str, ...] = MODELS) -> None:
    """moto parses a service's botocore model on first use, with a new loader that lists botocore's
    data folders first, and `functools.cache` does not lock: each request that arrived before the first
    parse had ended parsed it again (a burst's first requests, once per concurrent caller)."""
    from moto.core.utils import get_service_model

    for service in services:
        get_service_model(service)
