"""`ocr-service` command: run the offline Aspose.OCR Cloud v5 compatible server.

Credentials come from --client-id/--client-secret, else OCR_CLIENT_ID/OCR_CLIENT_SECRET, else the
development defaults `local-client` / `local-secret`. Prints one `ready` log line with the URL when it
accepts requests; exits cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from ocr_service.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FaultSettings,
    ServiceSettings,
    SettingsError,
)

_STANDARD = set(vars(logging.makeLogRecord({})))


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


def parse_args(argv: Sequence[str] | None = None) -> tuple[ServiceSettings, str]:
    """Settings and log level from flags and environment. Exits with status 2 on invalid values."""
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="ocr-service", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8085, help="TCP port; 0 picks a free one (default 8085)")
    parser.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")
    parser.add_argument("--queue-size", type=int, default=32, help="queued tasks before 429 (default 32)")
    parser.add_argument(
        "--retention", type=float, default=86400.0, help="seconds a task is kept (default 86400)"
    )
    parser.add_argument("--max-tasks", type=int, default=10_000, help="tasks kept at most (default 10000)")
    parser.add_argument(
        "--max-bytes", type=int, default=32 * 1024 * 1024, help="max image bytes (default 32 MiB)"
    )
    parser.add_argument("--max-pixels", type=int, default=60_000_000, help="max image pixels (default 60 M)")
    parser.add_argument(
        "--task-timeout", type=float, default=120.0, help="per-task time limit, s (default 120)"
    )
    parser.add_argument("--token-ttl", type=int, default=3600, help="token lifetime, s (default 3600)")
    parser.add_argument("--client-id", default=env.get("OCR_CLIENT_ID", DEFAULT_CLIENT_ID))
    parser.add_argument("--client-secret", default=env.get("OCR_CLIENT_SECRET", DEFAULT_CLIENT_SECRET))
    parser.add_argument("--admin", action="store_true", help="enable /_admin/faults and /_admin/stats")
    parser.add_argument("--log-level", default=env.get("OCR_LOG_LEVEL", "INFO"))
    faults = parser.add_argument_group("fault injection (off by default; env OCR_FAULT_<NAME> too)")
    for name in ("delay_seconds", "error_rate", "rate_429", "rate_5xx", "lost_rate"):
        flag = "--fault-" + name.replace("_", "-")
        faults.add_argument(
            flag, dest=name, type=float, default=float(env.get(f"OCR_FAULT_{name.upper()}", "0"))
        )
    seed = env.get("OCR_FAULT_SEED")
    faults.add_argument("--fault-seed", dest="seed", type=int, default=int(seed) if seed else None)
    args = parser.parse_args(argv)
    try:
        return ServiceSettings(
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
            client_id=args.client_id,
            client_secret=args.client_secret,
            admin=args.admin,
            faults=FaultSettings(
                delay_seconds=args.delay_seconds,
                error_rate=args.error_rate,
                rate_429=args.rate_429,
                rate_5xx=args.rate_5xx,
                lost_rate=args.lost_rate,
                seed=args.seed,
            ),
        ), args.log_level
    except SettingsError as exc:
        parser.error(str(exc))
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the process exit status."""
    settings, level = parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    log = logging.getLogger("ocr_service")

    from ocr_service.http_api import OcrServer

    server = OcrServer(settings)
    server.store.start()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    url = f"http://{host!s}:{port}"
    log.info(
        f"ocr-service ready at {url}",
        extra={"url": url, "workers": settings.workers, "admin": settings.admin},
    )
    stop.wait()
    server.shutdown()
    server.server_close()
    server.store.stop(timeout=5.0)
    thread.join(timeout=5.0)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
