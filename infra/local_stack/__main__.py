"""`ocr-local`: run the pipeline on a folder of images, or keep it up as a local drop folder.

ocr-local run --images events/images --out out [--timeout 300] [--param MaxPolls=5 ...]
ocr-local serve --out out [--port 4566]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

from local_stack.executions import ExecutionRecord
from local_stack.outputs import download_outputs
from local_stack.report import progress_line, summary_table, totals_line, write_html
from local_stack.stack import DEFAULT_TEMPLATE, LocalStack

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif"})
MAX_IMAGES = 10_000
_SERVE_POLL_SECONDS = 1.0


class UsageError(ValueError):
    """Bad command-line input."""


def _parameters(pairs: Sequence[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--param expects Key=Value, got {pair!r}")
        overrides[name] = value
    return overrides


def find_images(folder: Path) -> list[Path]:
    """Image files under `folder` (recursive, sorted), by suffix; at most `MAX_IMAGES`."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    images = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise UsageError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    if len(images) > MAX_IMAGES:
        raise UsageError(f"{len(images)} images under {folder}; at most {MAX_IMAGES} per run")
    return images


@contextlib.contextmanager
def _quiet_handlers(out: Path) -> Iterator[TextIO]:
    """Send the local stack's log to `out/logs/`, keep the terminal for progress (the functions' own
    output goes to `out/logs/lambda.log`, see `lambda_log`)."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    console = sys.stdout
    file_handler = logging.FileHandler(logs / "local-stack.log", encoding="utf-8")
    file_handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)
    (logs / "lambda.log").write_text("", encoding="utf-8")
    try:
        yield console
    finally:
        root.removeHandler(file_handler)
        file_handler.close()


class _Progress:
    """Prints the per-status counts when they change (in place on a terminal)."""

    def __init__(self, console: TextIO):
        self._console = console
        self._last = ""
        self._tty = console.isatty()

    def __call__(self, records: list[ExecutionRecord]) -> None:
        line = progress_line(records)
        if line == self._last:
            return
        self._last = line
        if self._tty:
            self._console.write("\r\033[K" + line)
        else:
            self._console.write(line + "\n")
        self._console.flush()

    def done(self) -> None:
        if self._tty and self._last:
            self._console.write("\n")


def run(args: argparse.Namespace) -> int:
    """Upload every image, wait, download the outputs, print the summary, write report.html."""
    images_dir = Path(args.images)
    out = Path(args.out)
    images = find_images(images_dir)
    overrides = _parameters(args.param)
    with _quiet_handlers(out) as console:
        started = time.monotonic()
        with LocalStack.start(
            template=Path(args.template), param_overrides=overrides, lambda_log=out / "logs" / "lambda.log"
        ) as stack:
            console.write(f"local stack up in {time.monotonic() - started:.1f} s: {stack.endpoint}\n")
            keys = [stack.input_prefix + p.relative_to(images_dir).as_posix() for p in images]
            console.write(f"uploading {len(images)} image(s) to s3://{stack.bucket}/{stack.input_prefix}\n")
            console.flush()
            run_started = time.monotonic()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                list(pool.map(stack.upload, images, keys))
            progress = _Progress(console)
            records = stack.wait_all(args.timeout, keys, on_progress=progress)
            wall = time.monotonic() - run_started
            progress.done()
            outputs = {
                r.key: download_outputs(
                    stack.s3, stack.bucket, r.key, stack.input_prefix, stack.output_prefixes, out
                )
                for r in records
            }
        report = write_html(out / "report.html", records, outputs, wall)
        console.write("\n" + summary_table(records, outputs) + "\n\n")
        console.write(totals_line(records, wall) + "\n")
        console.write(f"outputs under {out}/ · report {report} · handler logs {out / 'logs'}/\n")
    failed = [r for r in records if not r.succeeded]
    if failed:
        console.write(f"{len(failed)} of {len(records)} image(s) did not succeed\n")
        return 1
    return 0


def serve(args: argparse.Namespace) -> int:
    """Keep the stack up; report and download each finished execution until Ctrl-C/SIGTERM."""
    out = Path(args.out)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _quiet_handlers(out) as console:
        overrides = _parameters(args.param)
        with LocalStack.start(
            template=Path(args.template),
            param_overrides=overrides,
            moto_port=args.port,
            lambda_log=out / "logs" / "lambda.log",
        ) as stack:
            example = f"s3://{stack.bucket}/{stack.input_prefix}scan.jpg"
            console.write(
                f"local drop folder ready: endpoint {stack.endpoint}, bucket {stack.bucket}\n"
                f"  aws --endpoint-url {stack.endpoint} s3 cp scan.jpg {example}\n"
                "(any credentials work, e.g. AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)\n"
                f"outputs are copied under {out}/ · Ctrl-C stops\n"
            )
            console.flush()
            reported: set[str] = set()
            deadline = time.monotonic() + args.max_seconds
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    for record in stack.records(stack.known_keys()):
                        if record.finished and record.execution_arn not in reported:
                            reported.add(str(record.execution_arn))
                            local = download_outputs(
                                stack.s3,
                                stack.bucket,
                                record.key,
                                stack.input_prefix,
                                stack.output_prefixes,
                                out,
                            )
                            console.write(summary_table([record], {record.key: local}).splitlines()[1] + "\n")
                            console.flush()
                    stop.wait(_SERVE_POLL_SECONDS)
            except KeyboardInterrupt:
                pass
            console.write("stopping\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocr-local", description=__doc__.splitlines()[0] if __doc__ else None
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", default="out", help="local folder for outputs, report and logs")
    common.add_argument(
        "--param", action="append", default=[], metavar="Key=Value", help="template parameter"
    )
    common.add_argument("--template", default=str(DEFAULT_TEMPLATE), help="SAM template to run")
    run_cmd = commands.add_parser("run", parents=[common], help="process a folder of images once")
    run_cmd.add_argument("--images", default="events/images", help="folder of images (searched recursively)")
    run_cmd.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for all executions")
    run_cmd.add_argument("--concurrency", type=int, default=4, help="parallel uploads")
    serve_cmd = commands.add_parser("serve", parents=[common], help="keep the stack up as a drop folder")
    serve_cmd.add_argument("--port", type=int, default=0, help="moto port on 127.0.0.1 (0: any free port)")
    serve_cmd.add_argument("--max-seconds", type=float, default=86_400.0, help="stop after this long")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ocr-local` console script."""
    args = _parser().parse_args(argv)
    try:
        return run(args) if args.command == "run" else serve(args)
    except UsageError as exc:
        print(f"ocr-local: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
