"""Burst with faults: N objects dropped at once into a fresh local stack whose OCR service misbehaves.

    python -m bench.burst --burst 1000 --rate-429 0.05 --rate-5xx 0.02 --slow 4 --errors 0.02 \
        --lost 0.01 --duplicates 0.05

The OCR service injects HTTP 429 and 5xx answers, slow tasks (`--slow` seconds), failed tasks and lost
results at the given rates; the local stack delivers a share of the S3 notifications twice
(`--duplicates`). Everything else is the template's defaults (reserved concurrency included). Reported:
objects lost (neither text nor failure record), duplicate executions, accepted OCR tasks and API calls per
image, the most OCR jobs in flight at once (the service's count), admission slots left held or queued,
transitions per image (sampled), throttled invocations and peak concurrent invocations per function,
wall time, and the peak RSS of every process (this one, which hosts moto and the runner; the OCR
service; each function's workers); for this process also its RSS before the stack starts, once it has
started and once every execution has ended, its peak while the burst ran (`burst_peak`: the kernel's
high-water mark reset once the stack has started, so the stack's own start, which peaks higher than a
burst of 300, does not hide the burst's growth in N), and the most threads it ran at once (moto's
interpreter runs three per running execution).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS_DIR,
    Parser,
    Pixels,
    output_folder,
    peak_rss_mb,
    png_bytes,
    rss_mb,
    write_json,
)
from bench.throughput import aws_requests_per_image, failure_errors, keys_under, running
from local_stack import LocalStack
from local_stack.executions import key_of
from local_stack.runner import RunnerOptions

WORKERS = 2
UPLOADERS = 8
POLL_SECONDS = 0.5
PREFIX = "burst/"
SAMPLED = 20
"""Executions whose histories are read for the transitions per image."""


@dataclass(frozen=True)
class Faults:
    """Fault rates of the OCR service (per request or per task) and of S3 notification delivery."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    slow_seconds: float = 0.0
    error_rate: float = 0.0
    lost_rate: float = 0.0
    duplicate_rate: float = 0.0
    seed: int = 7


DEFAULT_FAULTS = Faults(rate_429=0.05, rate_5xx=0.02, error_rate=0.02, lost_rate=0.01, duplicate_rate=0.05)
"""What `make bench` injects (the command line's defaults)."""


def _stems(keys: set[str], prefix: str) -> set[str]:
    return {key[len(prefix) :].rsplit(".", 1)[0] for key in keys}


def _executions_per_key(stack: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for execution in stack.executions():
        key = key_of(execution["input"])
        if key is not None:
            counts[key] += 1
    return counts


def _slots_left(stack: Any) -> dict[str, int]:
    """Admission slots still held and executions still queued for one (both 0 after a clean run)."""
    [table] = [t.name for t in stack.spec.tables if t.logical_id == "AdmissionTable"]
    dynamodb = stack.clients["dynamodb"]
    slots = dynamodb.get_item(TableName=table, Key={"pk": {"S": "slots"}, "sk": {"S": "slots"}}).get(
        "Item", {}
    )
    waiting = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :w",
        ExpressionAttributeValues={":w": {"S": "waiting"}},
        Select="COUNT",
    )
    return {"held": len(slots.get("holders", {}).get("M", {})), "waiting": int(waiting["Count"])}


def _reset_peak_rss() -> bool:
    """Reset this process's resident high-water mark (`VmHWM`, Linux `clear_refs` 5); True if done."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def run(
    images: Sequence[Pixels],
    burst: int,
    faults: Faults,
    *,
    deadline_seconds: float,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Drop `burst` objects (cycling through `images`) at once; return the accounting and the figures."""
    blobs = [png_bytes(image) for image in images]
    options = RunnerOptions(duplicate_delivery_rate=faults.duplicate_rate, seed=faults.seed)
    service = {"workers": WORKERS, "queue_size": max(32, burst)}
    memory = {"before_stack": rss_mb()}
    with LocalStack.start(
        param_overrides=params or {}, service_options=service, lambda_options=options
    ) as stack:
        stack.ocr.set_faults(
            rate_429=faults.rate_429,
            rate_5xx=faults.rate_5xx,
            delay_seconds=faults.slow_seconds,
            error_rate=faults.error_rate,
            lost_rate=faults.lost_rate,
            seed=faults.seed,
        )
        keys = [f"{stack.input_prefix}{PREFIX}{i:05d}.png" for i in range(burst)]
        memory["stack_started"] = rss_mb()
        start_peak = max(peak_rss_mb(), peak_rss_mb(os.getpid()))
        reset = _reset_peak_rss()
        peak_threads = threading.active_count()
        requests_before = stack.aws_requests()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=UPLOADERS) as pool:
            list(pool.map(lambda i: stack.upload_bytes(blobs[i % len(blobs)], keys[i]), range(burst)))
        uploaded = time.monotonic() - started
        deadline = started + deadline_seconds
        service_peak = 0.0
        while time.monotonic() < deadline:
            service_peak = max(service_peak, peak_rss_mb(stack.ocr.process.pid))
            peak_threads = max(peak_threads, threading.active_count())
            if stack.runner.pending() == 0 and running(stack) == 0:
                break
            time.sleep(POLL_SECONDS)
        wall = time.monotonic() - started
        requests = aws_requests_per_image(requests_before, stack.aws_requests(), burst)
        memory["all_ended"] = rss_mb()
        if reset:
            memory["burst_peak"] = peak_rss_mb(os.getpid())
        prefixes = stack.output_prefixes
        texts = _stems(keys_under(stack, prefixes["text"] + PREFIX), prefixes["text"] + PREFIX)
        failed = _stems(keys_under(stack, prefixes["failed"] + PREFIX), prefixes["failed"] + PREFIX)
        # Outputs keep the input's whole name (text/bench/00000.png.txt): the stem is the relative key.
        wanted = {key[len(stack.input_prefix + PREFIX) :] for key in keys}
        executions = _executions_per_key(stack)
        stats = stack.ocr.stats()
        tasks = sum(v for k, v in stats.get("tasks", {}).items() if k != "queued" and isinstance(v, int))
        calls = sum(stats.get("requests", {}).values())
        sampled = [r.transitions for r in stack.records(keys[:: max(1, burst // SAMPLED)])]
        invocations = stack.invocations
        worker_peak: dict[str, int] = {}
        for record in invocations:
            worker_peak[record.function_name] = max(
                worker_peak.get(record.function_name, 0), record.max_memory_mb
            )
        return {
            "burst": burst,
            "faults": asdict(faults),
            "params": params or {},
            "upload_seconds": uploaded,
            "wall_seconds": wall,
            "deadline_hit": wall >= deadline_seconds,
            "texts": len(texts & wanted),
            "failure_records": len(failed & wanted),
            "lost": len(wanted - texts - failed),
            "failure_errors": failure_errors(stack, prefixes["failed"] + PREFIX),
            "executions": sum(executions.values()),
            "duplicate_executions": sum(count - 1 for count in executions.values() if count > 1),
            "accepted_tasks_per_image": tasks / burst,
            "api_jobs_in_flight": stats.get("in_flight", {}),
            "admission_slots_after": _slots_left(stack),
            "transitions_per_image_sampled": sum(sampled) / max(1, len(sampled)),
            "api_calls_per_image": calls / burst,
            "api_calls": stats.get("requests", {}),
            "aws_requests_per_image": requests,
            "invocations": dict(Counter(r.function_name for r in invocations)),
            "throttled_invocations": stack.throttles,
            "peak_concurrent_invocations": stack.peak_concurrency,
            "reserved_concurrency": {f.name: f.reserved_concurrency for f in stack.spec.functions},
            "peak_rss_mb": {
                "bench_process (moto, runner)": max(start_peak, peak_rss_mb(), peak_rss_mb(os.getpid())),
                "ocr_service": service_peak,
                "lambda_workers": dict(worker_peak),
            },
            "bench_process_memory_mb": {
                **memory,
                "peak": max(start_peak, peak_rss_mb(), peak_rss_mb(os.getpid())),
            },
            "bench_process_peak_threads": peak_threads,
        }


_FAULT_FLAGS = {
    "rate_429": ("--rate-429", "share of API requests answered 429"),
    "rate_5xx": ("--rate-5xx", "share of API requests answered 503"),
    "slow_seconds": ("--slow", "seconds every task stays Processing"),
    "error_rate": ("--errors", "share of tasks that fail"),
    "lost_rate": ("--lost", "share of tasks whose result is lost"),
    "duplicate_rate": ("--duplicates", "share of S3 notifications delivered twice"),
}


def main(argv: Sequence[str] | None = None) -> int:
    from bench.__main__ import samples

    parser = Parser(prog="python -m bench.burst", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--burst", type=int, default=200, help="objects dropped at once (1000 is fine)")
    for field_name, (flag, text) in _FAULT_FLAGS.items():
        default = getattr(DEFAULT_FAULTS, field_name)
        parser.add_argument(flag, dest=field_name, type=float, default=default, help=f"{text} ({default})")
    parser.add_argument("--seed", type=int, default=DEFAULT_FAULTS.seed)
    parser.add_argument("--deadline", type=float, default=3600.0, help="seconds before giving up")
    parser.add_argument("--out", type=output_folder, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.burst < 1:
        parser.error("--burst must be at least 1")
    rates = {name: getattr(args, name) for name in _FAULT_FLAGS}
    faults = Faults(**rates, seed=args.seed)
    images = [s.page.image for s in samples(quick=True) if s.degradation != "real_scan"]
    result = run(images, args.burst, faults, deadline_seconds=args.deadline)
    write_json(args.out, f"burst-{args.burst}", result)
    print(json.dumps(result, indent=2))
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
