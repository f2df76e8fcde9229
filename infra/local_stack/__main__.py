"""`ocr-local`: run the pipeline on a folder of images, keep it up as a local drop folder, or invoke one
function with an event file (a Docker-free `sam local invoke`).

ocr-local run --images events/images --out out [--timeout 300] [--param MaxPolls=5 ...]
ocr-local serve --out out [--port 4566]
ocr-local invoke OnUploadFunction -e events/s3_put.json

Everything the command line and the template alone can tell is checked before the stack is imported or
started; a user error is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from local_stack import cfn
from local_stack.cli_serve import (
    UsageError,
    invoke,
    parameters,
    quiet_handlers,
    read_event,
    serve,
    start_stack,
)

if TYPE_CHECKING:
    from local_stack.executions import ExecutionRecord

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif"})
MAX_IMAGES = 10_000
DEFAULT_PORT = 4566
"""LocalStack's port: tools and habits expect an AWS emulator there."""


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


def check_out_folder(folder: Path) -> None:
    """`--out` is a writable folder, or one that can be created: its nearest existing ancestor is a
    writable folder. Nothing is created here."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--out {folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {folder}: {existing} is not writable")


class _Progress:
    """Prints the per-status counts when they change (in place on a terminal)."""

    def __init__(self, console: TextIO):
        self._console = console
        self._last = ""
        self._tty = console.isatty()

    def __call__(self, records: list[ExecutionRecord]) -> None:
        from local_stack.report import progress_line

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
    """Upload `args.image_paths` (found under `args.images`), wait, download the outputs, print the summary,
    write report.html."""
    from local_stack.report import download_outputs, summary_table, totals_line, write_html
    from local_stack.samples import truth_path

    images_dir, images, out = Path(args.images), args.image_paths, Path(args.out)
    with quiet_handlers(out) as console:
        started = time.monotonic()
        with start_stack(args, lambda_log=out / "logs" / "lambda.log") as stack:
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
        truths = {key: truth_path(image) for key, image in zip(keys, images, strict=True)}
        report = write_html(out / "report.html", records, outputs, wall, truths)
        console.write("\n" + summary_table(records, outputs, truths) + "\n\n")
        console.write(totals_line(records, wall, outputs) + "\n")
        console.write(f"outputs under {out}/ · report {report} · handler logs {out / 'logs'}/\n")
    failed = [r for r in records if not r.succeeded]
    if failed:
        console.write(f"{len(failed)} of {len(records)} image(s) did not succeed\n")
        return 1
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (`ocr-local: ...`) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ocr-local: {message}\n")


def _checked(
    kind: type[int] | type[float], accept: Callable[[float], bool], name: str
) -> Callable[[str], float]:
    """An argparse `type`: `kind(text)` if `accept` takes it (argparse names `name` in its error)."""

    def parse(text: str) -> float:
        value = kind(text)
        if not math.isfinite(value) or not accept(value):
            raise ValueError(text)
        return value

    parse.__name__ = name
    return parse


_POSITIVE_SECONDS = _checked(float, lambda value: value > 0, "positive number of seconds")
_POSITIVE_COUNT = _checked(int, lambda value: value > 0, "positive integer")
_PORT = _checked(int, lambda value: 0 <= value <= 65_535, "port (0 to 65535)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ocr-local", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    common = _Parser(add_help=False)
    common.add_argument("--out", default="out", help="local folder for outputs, report and logs")
    common.add_argument(
        "--param", action="append", default=[], metavar="Key=Value", help="template parameter"
    )
    common.add_argument("--template", default=str(cfn.DEFAULT_TEMPLATE), help="SAM template to run")
    run_cmd = commands.add_parser("run", parents=[common], help="process a folder of images once")
    run_cmd.add_argument("--images", default="events/images", help="folder of images (searched recursively)")
    run_cmd.add_argument(
        "--timeout", type=_POSITIVE_SECONDS, default=300.0, help="seconds to wait for all executions"
    )
    run_cmd.add_argument("--concurrency", type=_POSITIVE_COUNT, default=4, help="parallel uploads")
    serve_cmd = commands.add_parser("serve", parents=[common], help="keep the stack up as a drop folder")
    serve_cmd.add_argument(
        "--port", type=_PORT, default=DEFAULT_PORT, help="moto port on 127.0.0.1 (0: any free port)"
    )
    serve_cmd.add_argument(
        "--max-seconds", type=_POSITIVE_SECONDS, default=86_400.0, help="stop after this long"
    )
    invoke_cmd = commands.add_parser("invoke", parents=[common], help="invoke one function with an event")
    invoke_cmd.add_argument("function", help="the function's logical id (e.g. OnUploadFunction)")
    invoke_cmd.add_argument("-e", "--event", required=True, help="JSON event file (e.g. events/s3_put.json)")
    return parser


def check(args: argparse.Namespace) -> None:
    """Every user error the command line and the template show, before anything is imported or started
    (and before any file is created): parameters, template, images, port, function and event. Adds
    `overrides`, and `image_paths` (run) or `event_data` (invoke), to `args`."""
    args.overrides = parameters(args.param)
    template = Path(args.template)
    if not template.is_file():
        raise UsageError(f"template {template} not found")
    cfn.check_overrides(template, args.overrides)
    check_out_folder(Path(args.out))
    if args.command == "run":
        args.image_paths = find_images(Path(args.images))
    elif args.command == "serve":
        cfn.check_port_free(args.port)
    else:
        functions = cfn.function_ids(template)
        if args.function not in functions:
            raise UsageError(f"no function {args.function!r}; the template has: {', '.join(functions)}")
        args.event_data = read_event(Path(args.event))


def _stack_errors() -> tuple[type[Exception], ...]:
    """The template's and the stack's own errors (exit 1), the latter from the modules already loaded: a
    module not loaded raised none, and importing it here would cost the imports the checks avoid."""
    where = {
        "local_stack.stack": "StackError",
        "local_stack.lambda_hook": "HookError",
        "local_stack.provision": "ProvisionError",
    }
    return cfn.TemplateError, *(
        getattr(sys.modules[module], name) for module, name in where.items() if module in sys.modules
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ocr-local` console script: user errors are one line and exit 2."""
    args = _parser().parse_args(argv)
    commands = {"run": run, "serve": serve, "invoke": invoke}
    try:
        check(args)
        return commands[args.command](args)
    except (UsageError, cfn.ParameterError, cfn.PortInUse) as exc:
        print(f"ocr-local: {exc}", file=sys.stderr)
        return 2
    except _stack_errors() as exc:
        print(f"ocr-local: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
