"""Throughput: images per minute through the whole local stack vs the engine called directly, and a burst.

Both sides process the same corpus images the way the default pipeline does (`BinarizationMode=endpoint`:
the project's binarizer, then RecognizeImage of the binary image with the pipeline's `makeSkewCorrect`, i.e.
perspective and skew correction before Tesseract). The direct side calls the same engines in this
process with as many threads as the service has workers. The stack side uploads N objects at once
(cycling through the images), waits until no execution runs, then checks that every object has a text
output or a failure record. Peak memory is the high-water RSS of this process and of the service child.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import breakdown
from bench.common import BenchError, Pixels, peak_rss_mb, png_bytes, rss_mb
from local_stack import LocalStack
from ocr_service.engines.binarize import binarize, to_gray
from ocr_service.engines.recognize import TesseractRecognizer
from ocr_service.operations import Limits, preprocess
from ocr_service.requests_model import RecognizeSettings

WORKERS = 2
UPLOADERS = 8
MAX_LIST_PAGES = 1000
POLL_SECONDS = 0.5
MAX_FAILURES_READ = 20
VARIANT_BURST_DIVISOR = 4
UPLOAD = "s3 PUT"
"""The request kind of the bench's own uploads (one PUT per object), taken out of the pipeline's count."""


def direct(images: Sequence[Pixels], workers: int = WORKERS) -> dict[str, Any]:
    """Binarize, correct geometry and recognize every image in-process with `workers` threads (the
    service's work for the default pipeline, without its HTTP and codecs); images per minute."""
    engine = TesseractRecognizer()
    settings = RecognizeSettings()  # the pipeline's: makeSkewCorrect on, no other preprocessing
    limits = Limits(max_bytes=2**31, max_pixels=2**31)

    def one(image: Pixels) -> int:
        return len(engine.recognize(to_gray(preprocess(binarize(image), settings, limits))).text)

    one(images[0])
    cpu_before = breakdown.self_cpu_seconds()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, images))
    seconds = time.perf_counter() - started
    return {
        "images": len(images),
        "seconds": seconds,
        "images_per_minute": 60.0 * len(images) / seconds,
        "cpu_seconds_per_image": (breakdown.self_cpu_seconds() - cpu_before) / len(images),
    }


def keys_under(stack: Any, prefix: str) -> set[str]:
    """Every key of the stack's bucket under `prefix` (at most `MAX_LIST_PAGES` pages)."""
    keys: set[str] = set()
    paginator = stack.s3.get_paginator("list_objects_v2")
    for index, page in enumerate(paginator.paginate(Bucket=stack.bucket, Prefix=prefix)):
        if index >= MAX_LIST_PAGES:
            raise BenchError(f"more than {MAX_LIST_PAGES} pages under {prefix}")
        keys.update(str(item["Key"]) for item in page.get("Contents", []))
    return keys


def running(stack: Any) -> int:
    """Executions of the stack's state machine still running (read in-process: polling this over the
    API would charge the stack for the bench's own watching)."""
    return int(stack.running())


def stack_burst(
    images: Sequence[Pixels],
    burst: int,
    *,
    deadline_seconds: float,
    params: dict[str, str] | None = None,
    sample_records: int = 20,
) -> dict[str, Any]:
    """Upload `burst` objects at once into a fresh local stack (template defaults, local short waits,
    then `params`)."""
    blobs = [png_bytes(image) for image in images]
    options = {"workers": WORKERS, "queue_size": max(32, burst)}
    before_stack = rss_mb()  # what earlier benchmarks of this process left resident
    with LocalStack.start(param_overrides=params or {}, service_options=options) as stack:
        cpu_before = breakdown.self_cpu_seconds()
        requests_before = stack.aws_requests()
        started = time.monotonic()
        names = [f"{stack.input_prefix}burst/{i:05d}.png" for i in range(burst)]
        uploaded_at: dict[str, float] = {}

        def upload(index: int) -> str:
            key = stack.upload_bytes(blobs[index % len(blobs)], names[index])
            uploaded_at[key] = time.time()
            return key

        with ThreadPoolExecutor(max_workers=UPLOADERS) as pool:
            keys = list(pool.map(upload, range(burst)))
        uploaded = time.monotonic() - started
        deadline = started + deadline_seconds
        peak_child = 0.0
        peak_self = rss_mb()
        while True:
            peak_child = max(peak_child, peak_rss_mb(stack.ocr.process.pid))
            peak_self = max(peak_self, rss_mb())
            # Uploads return before their notification has run: idle means no event queued either.
            if (stack.runner.pending() == 0 and running(stack) == 0) or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
        seconds = time.monotonic() - started
        requests = aws_requests_per_image(requests_before, stack.aws_requests(), burst)
        cpu = breakdown.cpu_seconds(stack, cpu_before)
        prefixes = stack.output_prefixes
        texts = len(keys_under(stack, f"{prefixes['text']}burst/"))
        failed = len(keys_under(stack, f"{prefixes['failed']}burst/"))
        records = stack.records(keys[:: max(1, burst // sample_records)])
        invocations = stack.invocations
        memory = {f.name: f.memory_size for f in stack.spec.functions}
        by_function: dict[str, list[float]] = {}
        for record in invocations:
            by_function.setdefault(record.function_name, []).append(record.seconds)
        statuses = Counter(r.status for r in records)
        return {
            "burst": burst,
            "params": params or {},
            "upload_seconds": uploaded,
            "seconds": seconds,
            "images_per_minute": 60.0 * texts / seconds if seconds > 0 else 0.0,
            "texts": texts,
            "failure_records": failed,
            "lost": burst - texts - failed,
            "sampled_executions": len(records),
            "sampled_statuses": dict(statuses),
            "transitions_per_image": float(statistics.mean(r.transitions for r in records))
            if records
            else 0.0,
            "checks_per_image": float(statistics.mean(r.polls for r in records)) if records else 0.0,
            "execution_seconds_per_image": float(statistics.mean(r.seconds or 0.0 for r in records))
            if records
            else 0.0,
            "seconds_per_image_breakdown": breakdown.per_image(stack, records, uploaded_at),
            "cpu_seconds": cpu,
            "cpu_seconds_per_image": sum(cpu.values()) / burst,
            "cold_starts": dict(Counter(r.function_name for r in invocations if r.cold_start)),
            "cold_start_means": breakdown.cold_starts(invocations),
            "throttled_invocations": stack.throttles,
            "invocations": {
                name: {
                    "count": len(values),
                    "per_image": len(values) / burst,
                    "mean_seconds": float(statistics.mean(values)),
                    "memory_mb": memory.get(name, 0),
                }
                for name, values in by_function.items()
            },
            "aws_requests_per_image": requests,
            "failure_errors": failure_errors(stack, f"{prefixes['failed']}burst/"),
            "peak_rss_mb": {
                "bench_process_during_burst": peak_self,
                "bench_process_before_stack": before_stack,
                "bench_process_lifetime": peak_rss_mb(),
                "ocr_service": peak_child,
            },
            "deadline_hit": time.monotonic() >= deadline,
        }


def aws_requests_per_image(before: dict[str, int], after: dict[str, int], burst: int) -> dict[str, float]:
    """AWS requests the pipeline made per object between two counts of the stack's (the uploads
    excepted; the bench reads executions in process, so it adds none)."""
    counts = Counter(after)
    counts.subtract(before)
    counts[UPLOAD] -= burst
    return {kind: count / burst for kind, count in sorted(counts.items()) if count > 0}


def failure_errors(stack: Any, prefix: str, limit: int = MAX_FAILURES_READ) -> dict[str, int]:
    """Error types named by (up to `limit`) failure records under `prefix`."""
    listing = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix, MaxKeys=limit)
    errors: Counter[str] = Counter()
    for item in listing.get("Contents", []):
        record = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=item["Key"])["Body"].read())
        errors[f"{record.get('error_type', 'unknown')}: {str(record.get('message', ''))[:160]}"] += 1
    return dict(errors)


def run(
    images: Sequence[Pixels], *, burst: int, deadline_seconds: float, variant: dict[str, str] | None = None
) -> dict[str, Any]:
    """Direct engine vs local stack on the same images, plus the burst figures.

    With `variant` (template parameter overrides), a second, smaller burst measures that configuration's
    counts (e.g. the in-Lambda poll switched off).
    """
    direct_result = direct(images)
    stack_result = stack_burst(images, burst, deadline_seconds=deadline_seconds)
    ratio = stack_result["images_per_minute"] / direct_result["images_per_minute"]
    # With every core busy, throughput is CPU per image: the most the stack could reach on this machine.
    bound = direct_result["cpu_seconds_per_image"] / stack_result["cpu_seconds_per_image"]
    result = {
        "direct": direct_result,
        "stack": stack_result,
        "stack_vs_direct": ratio,
        "stack_vs_direct_cpu_bound": bound,
    }
    if variant:
        small = max(4, burst // VARIANT_BURST_DIVISOR)
        result["stack_variant"] = stack_burst(
            images, small, deadline_seconds=deadline_seconds, params=variant
        )
    return result
