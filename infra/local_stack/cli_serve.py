"""`ocr-local serve` (a local drop folder) and `ocr-local invoke` (one function, one event file), and the
command line's own checks. The stack is imported when a command starts it, so a user error costs no import
of moto or boto3."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from local_stack.executions import ExecutionRecord
    from local_stack.report import LocalOutputs
    from local_stack.runner import AsyncInvocation
    from local_stack.stack import LocalStack

_SERVE_POLL_SECONDS = 1.0
MAX_EVENT_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous payload limit."""


class UsageError(ValueError):
    """Bad command-line input."""


def parameters(pairs: Sequence[str]) -> dict[str, str]:
    """`Key=Value` pairs of `--param` as a mapping."""
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--param expects Key=Value, got {pair!r}")
        overrides[name] = value
    return overrides


def start_stack(args: argparse.Namespace, **options: Any) -> LocalStack:
    """`LocalStack.start` with the command's `--template` and `--param` overrides (`args.overrides`)."""
    from local_stack.stack import LocalStack

    return LocalStack.start(template=Path(args.template), param_overrides=args.overrides, **options)


@contextlib.contextmanager
def quiet_handlers(out: Path) -> Iterator[TextIO]:
    """Send the local stack's log to `out/logs/local-stack.log` and keep the terminal for progress (the
    functions' own output goes to `out/logs/lambda.log`)."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "lambda.log").write_text("", encoding="utf-8")
    file_handler = logging.FileHandler(logs / "local-stack.log", encoding="utf-8")
    file_handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)
    try:
        yield sys.stdout
    finally:
        root.removeHandler(file_handler)
        file_handler.close()


def _upload_notices(stack: LocalStack) -> queue.Queue[str]:
    """Lines for uploads the S3-notified functions reported as duplicate or skipped, or failed on."""
    from local_stack.resources import notifications

    notified = {n["LambdaFunctionArn"].split(":")[6] for b in stack.spec.buckets for n in notifications(b)}
    notices: queue.Queue[str] = queue.Queue()

    def listen(item: AsyncInvocation) -> None:
        if item.function_name not in notified:
            return
        keys = [
            str(r.get("s3", {}).get("object", {}).get("key"))
            for r in (item.event or {}).get("Records", [])
            if isinstance(r, dict)
        ]
        if not item.ok:
            notices.put(f"upload not started: {', '.join(keys)}: {item.error}")
            return
        try:
            result: Any = json.loads(item.payload or "null")
        except ValueError:
            return
        for kind in ("duplicates", "skipped"):
            count = result.get(kind) if isinstance(result, dict) else None
            if isinstance(count, int) and count > 0:
                label = "duplicate" if kind == "duplicates" else "skipped"
                notices.put(f"{label} upload: {', '.join(keys)} (no new execution)")

    stack.runner.listeners.append(listen)
    return notices


def _banner(stack: LocalStack, out: Path) -> str:
    example = f"s3://{stack.bucket}/{stack.input_prefix}scan.jpg"
    region = stack.environment.region
    return (
        f"local drop folder ready on {stack.endpoint}\n"
        f"  export AWS_ENDPOINT_URL={stack.endpoint} AWS_DEFAULT_REGION={region} "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing\n"
        f"  bucket         {stack.bucket} (uploads under {stack.input_prefix} are processed)\n"
        f"  state machine  {stack.state_machine_arn}\n"
        f"  try            aws s3 cp scan.jpg {example}\n"
        f"outputs and report.html under {out}/ · Ctrl-C stops\n"
    )


def serve(args: argparse.Namespace) -> int:
    """Keep the stack up; report, download and add to report.html each finished execution until stopped."""
    from local_stack.report import download_outputs, summary_table, totals_line, write_html

    out = Path(args.out)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with (
        quiet_handlers(out) as console,
        start_stack(args, moto_port=args.port, lambda_log=out / "logs" / "lambda.log") as stack,
    ):
        notices = _upload_notices(stack)
        console.write(_banner(stack, out))
        console.flush()
        started = time.monotonic()
        records: dict[str, ExecutionRecord] = {}
        outputs: dict[str, LocalOutputs] = {}
        try:
            while not stop.is_set() and time.monotonic() < started + args.max_seconds:
                while not notices.empty():
                    console.write(notices.get_nowait() + "\n")
                new = [r for r in stack.records(stack.known_keys()) if r.finished and records.get(r.key) != r]
                for record in new:
                    records[record.key] = record
                    outputs[record.key] = download_outputs(
                        stack.s3, stack.bucket, record.key, stack.input_prefix, stack.output_prefixes, out
                    )
                    console.write(summary_table([record], outputs).splitlines()[1] + "\n")
                if new:
                    write_html(
                        out / "report.html", list(records.values()), outputs, time.monotonic() - started
                    )
                console.flush()
                stop.wait(_SERVE_POLL_SECONDS)
        except KeyboardInterrupt:
            pass
        totals = totals_line(list(records.values()), time.monotonic() - started, outputs)
        console.write(f"stopping · {totals}\n")
    return 0


def read_event(path: Path) -> Any:
    """The JSON event in `path`; `UsageError` when it is missing, over `MAX_EVENT_BYTES` or not JSON."""
    if not path.is_file():
        raise UsageError(f"event file {path} not found")
    if path.stat().st_size > MAX_EVENT_BYTES:
        raise UsageError(f"event file {path} is larger than Lambda's 6 MB payload limit")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read event file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"event file {path} is not JSON: {exc}") from None


def invoke(args: argparse.Namespace) -> int:
    """Invoke `args.function` (a logical id, checked) with `args.event_data` synchronously on the stack's
    runner: its log on stderr, its result on stdout."""
    with quiet_handlers(Path(args.out)), start_stack(args) as stack:
        by_id = {f.logical_id: f.name for f in stack.spec.functions}
        if args.function not in by_id:
            raise UsageError(f"function {args.function} is not created with these parameters (Condition)")
        payload, errored = stack.runner.invoke(by_id[args.function], args.event_data)
        sys.stderr.write(stack.lambda_log.read_text(encoding="utf-8", errors="replace"))
    sys.stdout.write(json.dumps(json.loads(payload), indent=2) + "\n")
    return 1 if errored else 0
