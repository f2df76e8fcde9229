"""`python -m bench [--quick] [--only NAME ...] [--burst N] [--out DIR]`: run the benchmarks.

Writes `<out>/<name>.json` per benchmark, `<out>/SUMMARY.md` and PNG plots (default out: bench/results).
With `--only`, the summary also shows the earlier results of the other benchmarks found in `<out>`.
Benchmarks: binarization, ocr_accuracy, auto_mode, polling, throughput, burst (faults injected),
cost, service. `auto_mode` needs
`ocr_accuracy` and `cost` needs `throughput`: they are run when asked for.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import auto_mode, binarization, cost, ocr_accuracy, polling, report, service_throughput, throughput
from bench import burst as burst_bench
from bench.common import RESULTS_DIR, Parser, machine, output_folder, real_scan, write_json
from bench.corpus import Sample, corpus, photo_pages

NAMES = ("binarization", "ocr_accuracy", "auto_mode", "polling", "throughput", "burst", "cost", "service")
NEEDS = {"auto_mode": ("ocr_accuracy",), "cost": ("throughput",)}
DEFAULT_BURST = 200
QUICK_BURST = 4
QUICK_DEGRADATIONS = ("clean", "shadow", "noise", "inverted_region")
BURST_DEADLINE_SECONDS = 1800.0
IN_LAMBDA_OFF = {"InLambdaPollSeconds": "0"}
"""The second burst's overrides: the deployed defaults against the plain Wait loop."""
SERVICE_PAGES, SERVICE_PAGES_QUICK = 16, 2

log = logging.getLogger("bench")


def samples(quick: bool) -> list[Sample]:
    """The OCR corpus: generated pages (a 4-image subset in quick mode), phone photos, the real scan."""
    pages = list(corpus(quick=quick))
    if quick:
        pages = [s for s in pages if s.name.startswith("p0-") and s.degradation in QUICK_DEGRADATIONS]
    return [*pages, *photo_pages(quick=quick), real_scan()]


def _selected(only: Sequence[str] | None) -> list[str]:
    wanted = set(only or NAMES)
    for name in list(wanted):
        wanted.update(NEEDS.get(name, ()))
    return [name for name in NAMES if name in wanted]


@contextlib.contextmanager
def _quiet_handlers() -> Any:
    """Keep the in-process Lambda handlers' JSON logs and metrics off the console."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        yield


def run(quick: bool, only: Sequence[str] | None, burst: int, out_dir: Path) -> dict[str, Any]:
    """Run the selected benchmarks; write JSON, SUMMARY.md and plots to `out_dir`; return the results."""
    from ocr_service.testing import start_service

    names = _selected(only)
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}

    def step(name: str, produce: Any) -> None:
        started = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        results[name] = produce()
        seconds[name] = time.monotonic() - started
        results[name]["bench_seconds"] = seconds[name]
        results[name]["cpu"] = machine()["cpu"]
        write_json(out_dir, name, results[name])
        print(f"bench: {name} done in {seconds[name]:.1f} s", file=sys.stderr, flush=True)

    ocr_samples = samples(quick)
    if "binarization" in names:
        page_samples = [s for s in corpus(quick=quick) if not quick or s.name.startswith("p0-")]
        step("binarization", lambda: binarization.run(page_samples, repeats=1 if quick else 3, quick=quick))
    per_image: list[ocr_accuracy.ImageResult] = []
    if "ocr_accuracy" in names:

        def ocr() -> dict[str, Any]:
            with start_service(workers=throughput.WORKERS) as service:
                per_image.extend(ocr_accuracy.measure_all(ocr_samples, service))
            return ocr_accuracy.summarise(per_image)

        step("ocr_accuracy", ocr)
    if "auto_mode" in names:
        step("auto_mode", lambda: auto_mode.run(per_image))
    with _quiet_handlers():
        if "polling" in names:
            step("polling", lambda: polling.run(quick=quick))
        if "throughput" in names:
            images = [s.page.image for s in ocr_samples if s.degradation != "real_scan"]
            # the in-Lambda-poll-off variant is a second stack: full runs only (the smoke run keeps one)
            variant = IN_LAMBDA_OFF if not quick and polling.template_has_in_lambda_poll() else None
            step(
                "throughput",
                lambda: throughput.run(
                    images, burst=burst, deadline_seconds=BURST_DEADLINE_SECONDS, variant=variant
                ),
            )
        if "burst" in names:
            images = [s.page.image for s in ocr_samples if s.degradation != "real_scan"]
            step(
                "burst",
                lambda: burst_bench.run(
                    images, burst, burst_bench.DEFAULT_FAULTS, deadline_seconds=BURST_DEADLINE_SECONDS
                ),
            )
    if "cost" in names:
        measured = results["throughput"]
        ocr_seconds = measured["direct"]["seconds"] * throughput.WORKERS / measured["direct"]["images"]
        step(
            "cost",
            lambda: cost.run(
                measured["stack"], ocr_seconds=ocr_seconds, measured_variant=measured.get("stack_variant")
            ),
        )
    if "service" in names:
        pages = [s.page.image for s in ocr_samples if s.degradation != "real_scan"]
        count, repeats = (SERVICE_PAGES_QUICK, 1) if quick else (SERVICE_PAGES, service_throughput.REPEATS)
        step("service", lambda: service_throughput.run(pages[:count], repeats))
    for name in NAMES:
        previous = out_dir / f"{name}.json"
        if name not in results and previous.is_file():
            results[name] = json.loads(previous.read_text(encoding="utf-8"))
    write_summary(results, out_dir, quick=quick, burst=burst)
    return results


def write_summary(results: dict[str, Any], out_dir: Path, *, quick: bool, burst: int) -> None:
    """Write `machine.json`, `SUMMARY.md` and the plots for `results` (each with its `bench_seconds`)."""
    info = machine()
    seconds = {name: r["bench_seconds"] for name, r in results.items() if "bench_seconds" in r}
    # with --only, the other results are earlier runs', perhaps on another machine: say which ran where
    cpus: dict[str, list[str]] = {}
    for name, r in results.items():
        cpus.setdefault(str(r.get("cpu", "unrecorded")), []).append(name)
    where = (
        info["cpu"]
        if list(cpus) == [info["cpu"]]
        else "; ".join(f"{cpu} ({', '.join(names)})" for cpu, names in cpus.items())
    )
    header = [
        "# Benchmark results",
        "",
        f"Machine: {where}, {info['cores']} cores (shared, noisy), Python {info['python']}, "
        f"OpenCV {info['opencv']}. Mode: {'quick' if quick else 'full'}; burst {burst}. "
        "Reproduce: `make bench` (or `make bench ARGS='--burst 1000'`).",
        "",
        "Run time per benchmark: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ".",
        "",
    ]
    write_json(out_dir, "machine", info)
    (out_dir / "SUMMARY.md").write_text(report.summary(results, header), encoding="utf-8")
    report.plots(results, out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few images, one stack point")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=f"any of {', '.join(NAMES)}")
    parser.add_argument(
        "--burst", type=int, help=f"objects in the burst (default {DEFAULT_BURST}, quick {QUICK_BURST})"
    )
    parser.add_argument("--out", type=output_folder, default=RESULTS_DIR, help="results folder")
    args = parser.parse_args(argv)
    burst = args.burst if args.burst is not None else (QUICK_BURST if args.quick else DEFAULT_BURST)
    if not 1 <= burst <= 10_000:
        parser.error("--burst must be within 1..10000")
    run(args.quick, args.only, burst, args.out)
    print(f"bench: results in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
