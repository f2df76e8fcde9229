"""``ocr-reprocess``: backfill a prefix, retry failed images, or force a re-run, on AWS or a local endpoint.

    ocr-reprocess --stack ocr-pipeline --prefix incoming/2026/          # objects without a result yet
    ocr-reprocess --stack ocr-pipeline --failed                         # every object with a failure record
    ocr-reprocess --stack ocr-pipeline --force --prefix incoming/2026/  # everything, in a new run
    ocr-reprocess --bucket B --state-machine-arn ARN --failed --dry-run # list only

boto3 finds credentials, region and endpoint as usual (``AWS_ENDPOINT_URL`` for the local stack). A
user error prints one line on stderr and exits 2; a run stopped at ``--limit`` exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ocr_pipeline.adapters.workflow import StepFunctionsStarter
from ocr_pipeline.domain.start import StartOutcome, start_executions
from reprocess.listing import PAGE_SIZE, current_objects, records
from reprocess.plan import Mode, Plan, plan, record_prefix
from reprocess.target import (
    DEFAULT_PREFIXES,
    LAYOUT_FIELDS,
    Target,
    UserError,
    failed_objects,
    option_name,
    target_from_args,
    target_from_stack,
)

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 1_000_000
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, connect_timeout=10, read_timeout=60)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UserError(message)


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ocr-reprocess", description=__doc__.split("\n\n")[0] if __doc__ else None)
    where = parser.add_argument_group("stack (either --stack, or --bucket and --state-machine-arn)")
    where.add_argument("--stack", help="CloudFormation stack: bucket, state machine and layout from it")
    where.add_argument("--bucket")
    where.add_argument("--state-machine-arn")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--failed", action="store_true", help="retry every object with a failure record")
    what.add_argument("--force", action="store_true", help="start everything under --prefix in a new run")
    parser.add_argument("--prefix", help="input prefix to work on (required unless --failed)")
    parser.add_argument("--run-id", help="run of --force (default: the UTC time); the same run never repeats")
    parser.add_argument("--dry-run", action="store_true", help="list what would start; start nothing")
    parser.add_argument("--limit", type=_limit, default=DEFAULT_LIMIT, help="most objects to consider")
    layout = parser.add_argument_group("layout without --stack (the template's defaults)")
    for name in LAYOUT_FIELDS:
        default = DEFAULT_PREFIXES.get(name, name.lower().removesuffix("_prefix") + "/")
        layout.add_argument(option_name(name), dest=name.lower(), default=default)
    layout.add_argument("--suffixes", default="png,jpg,jpeg,tif,tiff,bmp,gif")
    return parser


def _mode(args: argparse.Namespace) -> Mode:
    if args.failed:
        return Mode.FAILED
    if args.prefix is None:
        raise UserError("--prefix is required (or use --failed)")
    return Mode.FORCE if args.force else Mode.BACKFILL


def _plan(
    mode: Mode, target: Target, s3: Any, prefix: str, limit: int, run_id: str | None
) -> tuple[Plan, bool, list[str]]:
    """The plan, whether a listing stopped at ``limit``, and notes on records that name no object."""
    layout = target.layout
    if mode is Mode.FAILED:
        failures = records(
            s3, target.bucket, record_prefix(prefix, layout.FAILED_PREFIX, layout), limit=limit
        )
        failed = failed_objects(s3, target, failures.etags, prefix)
        selected = plan(
            mode, failed.objects, layout=layout, suffixes=target.suffixes, failures=failures.etags
        )
        return selected, failures.truncated, failed.notes
    listing = current_objects(s3, target.bucket, prefix, limit=limit)
    results = None
    truncated = listing.truncated
    if mode is Mode.BACKFILL:
        found = records(
            s3,
            target.bucket,
            record_prefix(prefix, layout.RESULT_PREFIX, layout),
            limit=2 * limit + PAGE_SIZE,
        )
        if found.truncated:
            raise UserError(
                f"more than {2 * limit + PAGE_SIZE} result records under the prefix: narrow --prefix"
            )
        results = found.etags
    selected = plan(
        mode, listing.objects, layout=layout, suffixes=target.suffixes, results=results, run_id=run_id
    )
    return selected, truncated, []


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, reprocess, print one line per object and a summary; return the exit status."""
    args = _parser().parse_args(argv)
    mode = _mode(args)
    if args.run_id is not None and mode is not Mode.FORCE:
        raise UserError("--run-id applies to --force only")
    run_id = args.run_id or (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") if mode is Mode.FORCE else None)
    if args.stack and (args.bucket or args.state_machine_arn):
        raise UserError("give --stack, or --bucket and --state-machine-arn, not both")
    named = None if args.stack else target_from_args(args)
    session = boto3.session.Session()
    s3 = session.client("s3", config=_CLIENT_CONFIG)
    sfn = session.client("stepfunctions", config=_CLIENT_CONFIG)
    target = named or target_from_stack(session.client("cloudformation", config=_CLIENT_CONFIG), args.stack)
    prefix = args.prefix if args.prefix is not None else target.layout.INPUT_PREFIX
    if not prefix.startswith(target.layout.INPUT_PREFIX):
        raise UserError(f"--prefix {prefix!r} is not under the input prefix {target.layout.INPUT_PREFIX!r}")
    target.check_exists(s3, sfn)

    selected, truncated, notes = _plan(mode, target, s3, prefix, args.limit, run_id)
    for note in notes:
        print(note)
    starter = StepFunctionsStarter(sfn, target.state_machine_arn)
    started = existing = 0
    for candidate in selected.candidates:
        if args.dry_run:
            name, exists = target.existing_execution(sfn, candidate)
            existing += exists
            print(f"{'exists' if exists else 'would start'}\t{candidate.obj.key}\t{name}")
            continue
        (result,) = start_executions(
            [candidate.obj],
            workflow=starter,
            input_prefix=target.layout.INPUT_PREFIX,
            output_prefixes=target.layout.output_prefixes,
            suffixes=target.suffixes,
            clock=lambda: datetime.now(UTC),
            run=candidate.run,
        )
        is_new = result.outcome is StartOutcome.STARTED
        started += is_new
        existing += not is_new
        print(f"{'started' if is_new else 'exists'}\t{candidate.obj.key}\t{result.execution_name}")
    verb = "would start" if args.dry_run else "started"
    count = len(selected.candidates) - existing if args.dry_run else started
    run_note = f" (run {run_id})" if run_id else ""
    print(
        f"{mode.value}{run_note}: {verb} {count} · already started {existing} · with result "
        f"{selected.with_result} · not accepted {selected.not_accepted}"
    )
    if truncated:
        again = f" with --run-id {run_id}" if run_id else ""
        print(
            f"ocr-reprocess: stopped at --limit {args.limit}: run again{again} to continue "
            "(objects already started are not started twice)",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: :func:`run` with user errors and AWS errors as one line and exit status 2."""
    try:
        return run(argv)
    except UserError as exc:
        print(f"ocr-reprocess: error: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"ocr-reprocess: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
