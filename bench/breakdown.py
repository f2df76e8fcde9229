"""Where an image's wall time and the machine's CPU go in a local-stack burst.

Per image (means over the sampled executions, from their Step Functions histories): from upload to
execution start (S3 notification queue + OnUpload + StartExecution), time in handlers, time waiting to
retry a throttled invoke (`Lambda.TooManyRequestsException`), other retry waits, Wait states, time in
the admission state (`Acquire slot`, waiting on its task token for an API slot), and the rest (the ASL
interpreter and the Invoke round trips). CPU seconds per process: this process (moto, the interpreter,
the runner), the OCR service, the worker templates (their imports, once) and each function's workers.
"""

from __future__ import annotations

import os
import resource
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from local_stack.executions import history_events

THROTTLED = "Lambda.TooManyRequestsException"
_LAMBDA_END = {"LambdaFunctionSucceeded", "LambdaFunctionFailed", "LambdaFunctionTimedOut"}
ADMISSION_STATE = "Acquire slot"


def self_cpu_seconds() -> float:
    """User + system CPU of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int, *, descendants: bool = True) -> float:
    """User + system CPU of `pid` (and its live descendants) so far (0 once gone; reads Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu: dict[int, float] = {}
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, pending, seen = 0.0, [pid], set()
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            total += cpu.get(current, 0.0)
            pending.extend(children.get(current, []) if descendants else [])
    return total


def execution_split(events: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Seconds of one execution in handlers, throttled-retry waits, other retry waits, Wait states and
    the rest, from its history events (oldest first)."""
    split = Counter[str]()
    first = last = None
    lambda_start = retry_from = None
    retry_kind = ""
    wait_entered = admission_entered = None
    for event in events:
        moment = event["timestamp"].timestamp()
        first = moment if first is None else first
        last = moment
        kind = str(event["type"])
        if kind == "LambdaFunctionScheduled" and retry_from is not None:
            split[retry_kind] += moment - retry_from
            retry_from = None
        elif kind == "LambdaFunctionStarted":
            lambda_start = moment
        elif kind in _LAMBDA_END:
            error = str(event.get("lambdaFunctionFailedEventDetails", {}).get("error", ""))
            if lambda_start is not None:
                split["throttled_invoke" if error == THROTTLED else "handler"] += moment - lambda_start
            lambda_start = None
            if kind != "LambdaFunctionSucceeded":
                retry_from = moment
                retry_kind = "throttled_retry_wait" if error == THROTTLED else "other_retry_wait"
        elif (
            kind == "TaskStateEntered"
            and event.get("stateEnteredEventDetails", {}).get("name") == ADMISSION_STATE
        ):
            admission_entered = moment
        elif kind == "TaskStateExited" and admission_entered is not None:
            split["admission_wait"] += moment - admission_entered
            admission_entered = None
        elif kind == "WaitStateEntered":
            wait_entered = moment
        elif kind == "WaitStateExited" and wait_entered is not None:
            split["wait_states"] += moment - wait_entered
            wait_entered = None
    if first is None or last is None:
        return {}
    total = last - first
    result = {name: float(split[name]) for name in ("handler", "throttled_invoke", "throttled_retry_wait")}
    result.update(
        {name: float(split[name]) for name in ("other_retry_wait", "wait_states", "admission_wait")}
    )
    result["interpreter_and_invoke_round_trips"] = total - sum(result.values())
    result["execution"] = total
    return result


def per_image(stack: Any, records: Iterable[Any], uploaded_at: Mapping[str, float]) -> dict[str, float]:
    """Mean seconds per image of each part of its wall time (see the module docstring)."""
    splits: list[dict[str, float]] = []
    for record in records:
        if record.execution_arn is None:
            continue
        events = list(history_events(stack.sfn, record.execution_arn))
        split = execution_split(events)
        if not split:
            continue
        if record.key in uploaded_at:
            split["upload_to_execution_start"] = events[0]["timestamp"].timestamp() - uploaded_at[record.key]
        splits.append(split)
    names = sorted({name for split in splits for name in split})
    return {name: float(statistics.mean(s.get(name, 0.0) for s in splits)) for name in names}


def cold_starts(invocations: Iterable[Any]) -> dict[str, float]:
    """Mean wall and CPU seconds of a cold start (spawn to handler ready), over the successful ones."""
    cold = [r for r in invocations if r.cold_start and not r.errored]
    if not cold:
        return {}
    return {
        "count": len(cold),
        "init_seconds": float(statistics.mean(r.init_seconds for r in cold)),
        "init_cpu_seconds": float(statistics.mean(r.init_cpu_seconds for r in cold)),
    }


def cpu_seconds(stack: Any, self_before: float) -> dict[str, float]:
    """CPU seconds of this process since `self_before`, of the OCR service, and of each function's
    live workers (read before the stack stops)."""
    result = {"bench_process (moto, interpreter, runner)": self_cpu_seconds() - self_before}
    result["ocr_service"] = process_cpu_seconds(stack.ocr.process.pid)
    result["worker templates"] = sum(
        process_cpu_seconds(pid, descendants=False) for pid in stack.runner.template_pids()
    )
    for name, pids in stack.runner.worker_pids().items():
        if pids:
            result[f"workers {name}"] = sum(process_cpu_seconds(pid) for pid in pids)
    return result
