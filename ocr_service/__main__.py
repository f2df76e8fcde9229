"""`ocr-service` command: run the offline Aspose.OCR Cloud v5 compatible server.

Every flag also reads an environment variable, `OCR_<FLAG>` (`--max-regions` -> `OCR_MAX_REGIONS`);
the flag wins. Credentials default to the development pair `local-client` / `local-secret`. Prints one
`ready` log line with the URL when it accepts requests; exits cleanly on SIGTERM or SIGINT. Invalid
settings or a port that cannot be bound: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ocr_service.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FaultSettings,
    ServiceSettings,
    SettingsError,
)

_STANDARD = {*vars(logging.makeLogRecord({})), "color_message"}
USAGE_ERROR = 2


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k != "message"})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


# (flag, type, default, help); the setting's name is the flag's, with `_`.
_FLAGS: list[tuple[str, Callable[[str], Any], Any, str]] = [
    ("host", str, "127.0.0.1", "bind address"),
    ("port", int, 8085, "TCP port; 0 picks a free one"),
    ("workers", int, 2, "engine worker processes"),
    ("queue-size", int, 32, "queued tasks before POST answers 429"),
    ("retention", float, 86400.0, "seconds a task and its result are kept"),
    ("max-tasks", int, 10_000, "tasks kept at most (oldest dropped first)"),
    ("max-bytes", int, 32 * 1024 * 1024, "largest decoded image, bytes"),
    ("max-pixels", int, 60_000_000, "largest image and upscale output, pixels"),
    ("task-timeout", float, 120.0, "per-task time limit, s (the worker is killed past it)"),
    ("token-ttl", int, 3600, "token lifetime, s"),
    ("request-timeout", float, 30.0, "deadline for a request's headers and body, s (408 past it)"),
    ("keep-alive-timeout", float, 5.0, "idle keep-alive connections are closed after this, s"),
    ("max-connections", int, 256, "open connections at most (429 beyond)"),
    ("max-json-depth", int, 8, "deepest JSON nesting accepted"),
    ("max-json-number-digits", int, 32, "longest JSON number accepted, characters"),
    ("max-form-fields", int, 16, "form fields accepted by /connect/token"),
    ("max-regions", int, 64, "RecognizeImage regions per request"),
    ("max-work-pixels", int, 100_000_000, "work per request: regions x pixels x upsampling"),
    ("max-result-bytes", int, 1024**3, "result bytes retained; oldest results dropped beyond"),
    ("max-inflight-bytes", int, 256 * 1024**2, "request and result bytes in flight at once (429 beyond)"),
    ("client-id", str, DEFAULT_CLIENT_ID, "accepted client id"),
    ("client-secret", str, DEFAULT_CLIENT_SECRET, "accepted client secret"),
    ("admin-secret", str, None, "bearer secret of the admin routes (prefer OCR_ADMIN_SECRET)"),
    ("log-level", str, "INFO", "log level"),
]
_FAULTS = ("delay_seconds", "error_rate", "rate_429", "rate_5xx", "lost_rate")


def _env_default(parser: _Parser, name: str, kind: Callable[[str], Any], default: Any) -> Any:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        parser.error(f"environment variable {name}={value!r} is not a valid {kind.__name__}")


def parse_args(argv: Sequence[str] | None = None) -> tuple[ServiceSettings, str]:
    """Settings and log level from flags and environment. Exits with status 2 on invalid values."""
    parser = _Parser(prog="ocr-service", description=__doc__.splitlines()[0] if __doc__ else None)
    for flag, kind, default, help_text in _FLAGS:
        env = "OCR_" + flag.upper().replace("-", "_")
        value = _env_default(parser, env, kind, default)
        shown = "" if "secret" in flag else f"default {default}, "
        parser.add_argument(f"--{flag}", type=kind, default=value, help=f"{help_text} ({shown}env {env})")
    admin_env = os.environ.get("OCR_ADMIN", "").lower() in ("1", "true", "yes", "on")
    parser.add_argument(
        "--admin", action="store_true", default=admin_env, help="enable /_admin/* (env OCR_ADMIN)"
    )
    group = parser.add_argument_group("fault injection (off by default; env OCR_FAULT_<NAME> too)")
    for name in _FAULTS:
        env = f"OCR_FAULT_{name.upper()}"
        group.add_argument(
            "--fault-" + name.replace("_", "-"),
            dest=name,
            type=float,
            default=_env_default(parser, env, float, 0.0),
        )
    seed = _env_default(parser, "OCR_FAULT_SEED", int, None)
    group.add_argument("--fault-seed", dest="seed", type=int, default=seed)
    args = parser.parse_args(argv)
    try:
        settings = ServiceSettings(
            host=args.host,
            port=args.port,
            workers=args.workers,
            queue_size=args.queue_size,
            retention_seconds=args.retention,
            max_tasks=args.max_tasks,
            max_bytes=args.max_bytes,
            max_pixels=args.max_pixels,
            task_timeout_seconds=args.task_timeout,
            token_ttl_seconds=args.token_ttl,
            request_timeout_seconds=args.request_timeout,
            keep_alive_seconds=args.keep_alive_timeout,
            max_connections=args.max_connections,
            max_json_depth=args.max_json_depth,
            max_number_digits=args.max_json_number_digits,
            max_form_fields=args.max_form_fields,
            max_regions=args.max_regions,
            max_work_pixels=args.max_work_pixels,
            max_result_bytes=args.max_result_bytes,
            max_inflight_bytes=args.max_inflight_bytes,
            client_id=args.client_id,
            client_secret=args.client_secret,
            admin=args.admin,
            admin_secret=args.admin_secret,
            faults=FaultSettings(
                delay_seconds=args.delay_seconds,
                error_rate=args.error_rate,
                rate_429=args.rate_429,
                rate_5xx=args.rate_5xx,
                lost_rate=args.lost_rate,
                seed=args.seed,
            ),
        )
    except SettingsError as exc:
        parser.error(str(exc))
    level = str(args.log_level).upper()
    if not isinstance(logging.getLevelName(level), int):
        parser.error(f"unknown log level {args.log_level!r}")
    return settings, level


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the process exit status."""
    settings, level = parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    log = logging.getLogger("ocr_service")

    from ocr_service.http_api import Api, OcrService
    from ocr_service.server import bind, make_server
    from ocr_service.workers import WorkerStartError, start_slots

    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"ocr-service: error: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return USAGE_ERROR
    try:
        slots = start_slots(settings.workers)
    except WorkerStartError as exc:
        sock.close()
        print(f"ocr-service: error: {exc}", file=sys.stderr)
        return 1
    service = OcrService(settings, list(slots))
    service.store.start()
    host, port = sock.getsockname()[:2]
    url = f"http://{host!s}:{port}"
    details = {"workers": settings.workers, "admin": settings.admin}
    server = make_server(Api(service).app, settings, url, details)
    try:
        server.run(sockets=[sock])
    finally:
        for slot in slots:
            slot.stop()
        service.store.stop(timeout=5.0)
        sock.close()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
