"""Per-object execution records read back from moto's Step Functions (status, timings, polls, transitions)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
NOT_STARTED = "NOT_STARTED"
POLL_STATE = re.compile(r"(?i)check|poll|status")
_MAX_HISTORY_PAGES = 50
_MAX_LIST_PAGES = 100


@dataclass(frozen=True)
class ExecutionRecord:
    """What happened to one uploaded object.

    `status` is a Step Functions status, or `NOT_STARTED` when no execution names the key. `polls` counts
    entries into states whose name looks like a status check (`POLL_STATE`); `transitions` counts every
    state entered (what Standard workflows bill).
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
    """The S3 key named in an execution's input (the first `key` string found, depth-first)."""
    try:
        document = json.loads(execution_input)
    except (TypeError, ValueError):
        return None
    return _find_key(document, depth=0)


def _find_key(node: Any, depth: int) -> str | None:
    if depth > 8:
        return None
    if isinstance(node, dict):
        value = node.get("key")
        if isinstance(value, str):
            return value
        for child in node.values():
            found = _find_key(child, depth + 1)
            if found is not None:
                return found
    if isinstance(node, list):
        for child in node:
            found = _find_key(child, depth + 1)
            if found is not None:
                return found
    return None


TERMINAL_HISTORY_EVENTS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
)


def history_counts(sfn: Any, execution_arn: str) -> tuple[int, int]:
    """(polls, transitions) from `get_execution_history` (bounded number of pages)."""
    polls, transitions, _ = _history_summary(sfn, execution_arn)
    return polls, transitions


def list_executions(
    sfn: Any, machine_arn: str, *, status: str | None = None, max_pages: int = _MAX_LIST_PAGES
) -> list[dict[str, Any]]:
    """Every execution summary of a state machine (optionally of one status), at most `max_pages` pages."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(max_pages):
        kwargs: dict[str, Any] = {"stateMachineArn": machine_arn, "maxResults": 1000}
        if status:
            kwargs["statusFilter"] = status
        if token:
            kwargs["nextToken"] = token
        page = sfn.list_executions(**kwargs)
        found.extend(page["executions"])
        token = page.get("nextToken")
        if not token:
            break
    return found


def history_events(
    sfn: Any, execution_arn: str, *, max_pages: int = _MAX_HISTORY_PAGES
) -> Iterator[dict[str, Any]]:
    """An execution's history events, oldest first, at most `max_pages` pages."""
    token: str | None = None
    for _ in range(max_pages):
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        yield from page["events"]
        token = page.get("nextToken")
        if not token:
            return


def _history_summary(sfn: Any, execution_arn: str) -> tuple[int, int, Any]:
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
        if event["type"] == "TaskStateEntered" and POLL_STATE.search(name):
            polls += 1
    return polls, transitions, stopped


def describe(sfn: Any, key: str, execution_arn: str, executions: int) -> ExecutionRecord:
    """Build the record of `key` from its execution (history read only once it is terminal)."""
    info = sfn.describe_execution(executionArn=execution_arn)
    status = str(info["status"])
    seconds = None
    polls = transitions = 0
    if status in TERMINAL:
        polls, transitions, stopped = _history_summary(sfn, execution_arn)
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
