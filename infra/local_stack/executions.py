"""Per-object execution records read back from moto's Step Functions (status, timings, polls, transitions)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
NOT_STARTED = "NOT_STARTED"
_MAX_HISTORY_PAGES = 50
_PAGE_SIZE = 1000


@dataclass(frozen=True)
class ExecutionRecord:
    """What happened to one uploaded object.

    `status` is a Step Functions status, or `NOT_STARTED` when no execution names the key. `polls` counts
    entries into poll states (`poll_states`: the Task states a Wait state leads to); `transitions` counts
    every state entered (what Standard workflows bill).
    """

    key: str
    status: str
    execution_arn: str | None = None
    name: str | None = None
    seconds: float | None = None
    polls: int = 0
    transitions: int = 0
    error: str | None = None
    cause: str | None = None
    executions: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def key_of(execution_input: str) -> str | None:
    """The S3 key of an execution's input (`{"object": {"key": ...}}`, as the pipeline starts it)."""
    try:
        key = json.loads(execution_input)["object"]["key"]
    except (TypeError, ValueError, KeyError):
        return None
    return key if isinstance(key, str) else None


TERMINAL_HISTORY_EVENTS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
)


def poll_states(definition: str | Mapping[str, Any]) -> frozenset[str]:
    """Names of the Task states a Wait state leads to: the checks of a wait-then-check loop, found from
    the definition's structure (branches of Parallel and Map states included), whatever they are named."""
    document = json.loads(definition) if isinstance(definition, str) else definition
    found: set[str] = set()

    def walk(machine: Mapping[str, Any]) -> None:
        states = machine.get("States") or {}
        for state in states.values():
            nxt = state.get("Next")
            if state.get("Type") == "Wait" and states.get(nxt, {}).get("Type") == "Task":
                found.add(str(nxt))
            for branch in state.get("Branches") or []:
                walk(branch)
            for key in ("Iterator", "ItemProcessor"):
                if isinstance(state.get(key), Mapping):
                    walk(state[key])

    walk(document)
    return frozenset(found)


def summaries(
    account_id: str, region: str, machine_arn: str, *, status: str | None = None
) -> list[dict[str, Any]]:
    """The state machine's executions (optionally of one status) as ListExecutions summarises them, plus
    their `input`, read from moto's backend in this process, newest first.

    The stack's own bookkeeping (which key an execution is for, whether anything is still running)
    reads them here: a ListExecutions request serialises every execution of the machine, a cost in N
    that polling several times a second would pay throughout a burst.
    """
    from moto.stepfunctions.responses import get_backend

    machine = get_backend(account_id, region).describe_state_machine(machine_arn)
    listed = [(e, _status(e)) for e in list(machine.executions)]
    executions = [(e, s) for e, s in listed if status is None or s == status]
    return [
        {
            "executionArn": e.execution_arn,
            "name": e.name,
            "status": s,
            "startDate": e.start_date,
            "input": e.execution_input,
        }
        for e, s in sorted(executions, key=lambda pair: pair[0].start_date, reverse=True)
    ]


def _status(execution: Any) -> str:
    """An execution's status; RUNNING for one moto has listed but not yet started (no status yet)."""
    try:
        return str(execution.status)
    except AttributeError:
        return "RUNNING"


def history_events(
    sfn: Any, execution_arn: str, *, max_pages: int = _MAX_HISTORY_PAGES
) -> Iterator[dict[str, Any]]:
    """An execution's history events, oldest first, at most `max_pages` pages."""
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, PaginationConfig=_pages(max_pages)
    )
    for page in pages:
        yield from page["events"]


def _pages(max_pages: int) -> dict[str, int]:
    return {"MaxItems": max_pages * _PAGE_SIZE, "PageSize": _PAGE_SIZE}


def _history_summary(sfn: Any, execution_arn: str, polled: frozenset[str]) -> tuple[int, int, Any]:
    """(polls, transitions, time of the terminal event or None)."""
    polls = transitions = 0
    stopped: Any = None
    for event in history_events(sfn, execution_arn):
        if event["type"] in TERMINAL_HISTORY_EVENTS:
            stopped = event.get("timestamp")
        if not str(event["type"]).endswith("StateEntered"):
            continue
        transitions += 1
        name = str(event.get("stateEnteredEventDetails", {}).get("name", ""))
        if event["type"] == "TaskStateEntered" and name in polled:
            polls += 1
    return polls, transitions, stopped


def describe(
    sfn: Any, key: str, execution_arn: str, executions: int, polled: frozenset[str] = frozenset()
) -> ExecutionRecord:
    """Build the record of `key` from its execution (history read only once it is terminal); `polled`
    names the poll states (`poll_states`)."""
    info = sfn.describe_execution(executionArn=execution_arn)
    status = str(info["status"])
    seconds = None
    polls = transitions = 0
    if status in TERMINAL:
        polls, transitions, stopped = _history_summary(sfn, execution_arn, polled)
        # moto's DescribeExecution omits stopDate for TIMED_OUT; the history has it.
        stop = info.get("stopDate") or stopped
        if stop is not None:
            seconds = (stop - info["startDate"]).total_seconds()
    return ExecutionRecord(
        key=key,
        status=status,
        execution_arn=execution_arn,
        name=str(info.get("name")),
        seconds=seconds,
        polls=polls,
        transitions=transitions,
        error=info.get("error"),
        cause=info.get("cause"),
        executions=executions,
    )
