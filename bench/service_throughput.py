"""Service throughput: BinarizeImage + RecognizeImage through the OCR service's HTTP API, 1 vs N workers,
against the same operations called directly in N worker processes, in the same run.

Each job is one of the two operations on one generated page, with the request body a client sends.
The service side starts `ocr-service --workers N`, warms every worker, then submits all jobs from
`CLIENTS` threads, each polling its task until it ends (wall time from the first POST to the last
result; with CLIENTS > N the queue never runs dry, so the poll interval only adds to the tail). The
direct side runs `operations.prepare(...)()` for the same bodies in a `spawn` pool of N processes
with one warm Tesseract each. CPU seconds per job (service process + workers, or pool processes)
are reported as well: unlike wall time they hardly move with the load of a shared machine.
Ratios: service N / service 1 (scaling) and service N / direct N (HTTP, queueing, process overhead).
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import requests

from bench.common import BenchError, Pixels, png_bytes
from ocr_service.engines.recognize import TesseractRecognizer
from ocr_service.operations import Limits, prepare
from ocr_service.testing import start_service
from ocr_service.workers import configure_engine_process

WORKERS = (1, 2)
REPEATS = 2
"""Each side is measured this many times, alternating; the fastest run counts (shared machine)."""
CLIENTS = 8
POLL_SECONDS = 0.5
JOB_DEADLINE_SECONDS = 300.0
TIMEOUT = (3.05, 60.0)
LIMITS = Limits(max_bytes=32 * 1024 * 1024, max_pixels=60_000_000)
RECOGNIZE_SETTINGS = {"makeBinarization": True, "resultType": "Text"}

Job = tuple[str, dict[str, Any]]
_engine: TesseractRecognizer | None = None


def jobs(images: Sequence[Pixels]) -> list[Job]:
    """One BinarizeImage and one RecognizeImage body per image."""
    out: list[Job] = []
    for image in images:
        encoded = base64.b64encode(png_bytes(image)).decode("ascii")
        out.append(("BinarizeImage", {"image": encoded}))
        out.append(("RecognizeImage", {"image": encoded, "settings": dict(RECOGNIZE_SETTINGS)}))
    return out


def _lower(body: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): _lower(v) if isinstance(v, dict) else v for k, v in body.items()}


def _init_worker() -> None:
    global _engine
    configure_engine_process()
    _engine = TesseractRecognizer()


def _run_direct(job: Job) -> int:
    operation, body = job
    assert _engine is not None
    return sum(len(r.data) for r in prepare(operation, _lower(body), LIMITS, _engine)())


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _tree(pid: int) -> list[int]:
    """`pid` and its direct children."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(child) for child in task.read_text().split()]
    return [pid, *children]


def direct(all_jobs: Sequence[Job], workers: int) -> dict[str, Any]:
    """The jobs run by `operations.prepare` in `workers` warm spawn processes; jobs per second."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        list(pool.map(_run_direct, list(all_jobs[:workers]) * 2))
        pids = [child.pid for child in multiprocessing.active_children() if child.pid]
        cpu, started = cpu_seconds(pids), time.perf_counter()
        list(pool.map(_run_direct, all_jobs))
        seconds, cpu = time.perf_counter() - started, cpu_seconds(pids) - cpu
    return _rate(len(all_jobs), seconds, workers, cpu)


def _rate(count: int, seconds: float, workers: int, cpu: float, front_cpu: float = 0.0) -> dict[str, Any]:
    return {
        "workers": workers,
        "jobs": count,
        "seconds": seconds,
        "jobs_per_second": count / seconds,
        "cpu_seconds_per_job": cpu / count,
        "http_process_cpu_seconds_per_job": front_cpu / count,
    }


def _submit_and_wait(session: requests.Session, base_url: str, job: Job, auth: dict[str, str]) -> str:
    operation, body = job
    url = f"{base_url}/v5.0/ocr/{operation}"
    response = session.post(url, json=body, headers=auth, timeout=TIMEOUT)
    if response.status_code != 200:
        raise BenchError(f"POST {operation} answered {response.status_code}: {response.text[:200]}")
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    while True:
        status = session.get(
            f"{base_url}/v5.0/ocr/Utilities/GetTaskStatus",
            params={"id": response.text},
            headers=auth,
            timeout=TIMEOUT,
        ).json()["taskStatus"]
        if status not in ("Pending", "Processing"):
            return str(status)
        if time.monotonic() > deadline:
            raise BenchError(f"{operation} task still {status} after {JOB_DEADLINE_SECONDS} s")
        time.sleep(POLL_SECONDS)


def service(all_jobs: Sequence[Job], workers: int) -> dict[str, Any]:
    """The jobs through `ocr-service --workers N` over HTTP from CLIENTS threads; jobs per second."""
    with start_service(workers=workers, queue_size=max(32, len(all_jobs)), admin=False) as svc:
        auth = {"Authorization": f"Bearer {svc.token()}"}
        with ThreadPoolExecutor(CLIENTS) as pool:
            sessions = [requests.Session() for _ in range(CLIENTS)]

            def run(index_job: tuple[int, Job]) -> str:
                index, job = index_job
                return _submit_and_wait(sessions[index % CLIENTS], svc.base_url, job, auth)

            list(pool.map(run, enumerate(list(all_jobs[:workers]) * 2)))
            pids, front = _tree(svc.process.pid), [svc.process.pid]
            cpu, front_cpu, started = cpu_seconds(pids), cpu_seconds(front), time.perf_counter()
            statuses = list(pool.map(run, enumerate(all_jobs)))
            seconds = time.perf_counter() - started
            cpu, front_cpu = cpu_seconds(pids) - cpu, cpu_seconds(front) - front_cpu
    failed = [s for s in statuses if s != "Completed"]
    if failed:
        raise BenchError(f"{len(failed)} service tasks did not complete: {sorted(set(failed))}")
    return _rate(len(all_jobs), seconds, workers, cpu, front_cpu)


def _fastest(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    best = dict(max(runs, key=lambda r: float(r["jobs_per_second"])))
    best["runs_jobs_per_second"] = [r["jobs_per_second"] for r in runs]
    return best


def run(images: Sequence[Pixels], repeats: int = REPEATS) -> dict[str, Any]:
    """Service with 1 and N workers and direct with 1 and N processes, same jobs, same run."""
    all_jobs = jobs(images)
    result: dict[str, Any] = {
        "images": len(images),
        "jobs": len(all_jobs),
        "clients": CLIENTS,
        "repeats": repeats,
    }
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeats):
        for workers in WORKERS:
            runs.setdefault(f"service_{workers}", []).append(service(all_jobs, workers))
            runs.setdefault(f"direct_{workers}", []).append(direct(all_jobs, workers))
    result.update({key: _fastest(value) for key, value in runs.items()})
    top = max(WORKERS)
    rate = {key: value["jobs_per_second"] for key, value in result.items() if isinstance(value, dict)}
    result["scaling"] = rate[f"service_{top}"] / rate["service_1"]
    result["direct_scaling"] = rate[f"direct_{top}"] / rate["direct_1"]
    result["service_vs_direct"] = rate[f"service_{top}"] / rate[f"direct_{top}"]
    result["cpu_per_job_service_vs_direct"] = (
        result[f"service_{top}"]["cpu_seconds_per_job"] / result[f"direct_{top}"]["cpu_seconds_per_job"]
    )
    result["goals"] = {"scaling": 1.8, "service_vs_direct": 0.95}
    result["load_average"] = {"before": load_before, "after": os.getloadavg()[0], "cores": os.cpu_count()}
    return result


def markdown(r: dict[str, Any]) -> list[str]:
    """The SUMMARY.md section."""
    rows = [
        f"| {side} | {m['workers']} | {m['jobs_per_second']:.2f} "
        f"| {', '.join(f'{v:.2f}' for v in m.get('runs_jobs_per_second', []))} "
        f"| {m['cpu_seconds_per_job']:.3f} | {m['http_process_cpu_seconds_per_job']:.3f} |"
        for w in WORKERS
        for side in ("service", "direct")
        for m in [r[f"{side}_{w}"]]
    ]
    top = max(WORKERS)
    load = r.get("load_average", {})
    return [
        "## OCR service throughput (BinarizeImage + RecognizeImage)",
        "",
        f"{r['jobs']} jobs ({r['images']} pages x 2 operations), {r['clients']} HTTP clients polling every "
        f"{POLL_SECONDS:g} s; direct = `operations.prepare` in warm spawn processes. Fastest of "
        f"{r['repeats']} alternating runs; CPU = user + system seconds of the service process and its "
        "workers (direct: of the pool processes) per job. Load average (1 min) before / after: "
        f"{load.get('before', float('nan')):.1f} / {load.get('after', float('nan')):.1f} on "
        f"{load.get('cores')} cores.",
        "",
        "| side | workers | jobs/s (fastest) | jobs/s (each run) | CPU s per job | of it HTTP process |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Service {top} vs 1 worker: **{r['scaling']:.2f}x** (goal >= {r['goals']['scaling']}; direct "
        f"{r['direct_scaling']:.2f}x). Service vs direct, {top} workers: **{r['service_vs_direct']:.2f}x** "
        f"(goal >= {r['goals']['service_vs_direct']}). CPU per job, service / direct ({top} workers): "
        f"{r['cpu_per_job_service_vs_direct']:.3f}.",
        "",
    ]
