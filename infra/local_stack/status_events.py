"""Step Functions "Execution Status Change" events delivered to the stack's EventBridge rules.

moto's EventBridge cannot invoke Lambda, so a background watcher stands in for it: moto's interpreter
tells it (`terminated`, through `lambda_hook`) when an execution of the stack's state machines ends; it
reads the execution from moto's backend in this process (`described`: no DescribeExecution request),
builds the event as AWS documents it and invokes every target of every matching rule asynchronously
(EventBridge invokes Lambda so: the function's retries and dead-letter queue apply), waiting for the
outcome. A failed target is logged and recorded; it never stops the watcher.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local_stack.event_rules import EventRuleSpec, event_envelope
from local_stack.executions import TERMINAL

log = logging.getLogger(__name__)

_WAKE_SECONDS = 0.5
MAX_TRACKED = 100_000
_MAX_DELIVERY_RECORDS = 10_000
_STOP_JOIN_SECONDS = 30.0


Invoke = Callable[[str, Any], tuple[bool, int, str | None]]
"""(function ARN, event) → (ok, attempts, error): one asynchronous invocation, run to its end."""
Describe = Callable[[str], Mapping[str, Any]]
"""execution ARN → the execution as `describe_execution` returns it (`described`)."""


@dataclass(frozen=True)
class Delivery:
    """One status-change event handed to one rule target."""

    execution_arn: str
    status: str
    rule: str
    function_arn: str
    attempts: int
    ok: bool
    error: str | None = None


def _epoch_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def described(account_id: str, region: str, execution_arn: str) -> dict[str, Any]:
    """The execution as moto's DescribeExecution answers, read from its backend in this process, with
    `stopDate` for every terminal status (moto's API leaves it out for TIMED_OUT; its backend has it)."""
    from moto.stepfunctions.responses import get_backend

    execution = get_backend(account_id, region).describe_execution(execution_arn)
    output = execution.output if execution.status == "SUCCEEDED" else None
    return {
        "executionArn": execution_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": execution.status,
        "startDate": execution.start_date,
        "stopDate": execution.stop_date,
        "input": execution.execution_input,
        "output": output if output is None or isinstance(output, str) else json.dumps(output),
        "error": execution.error,
        "cause": execution.cause,
    }


def status_change_event(execution: Mapping[str, Any], account_id: str, region: str) -> dict[str, Any]:
    """The EventBridge event of a `describe_execution` result, in the shape AWS documents."""
    stop: datetime | None = execution.get("stopDate")
    output = execution.get("output")
    arn = execution["executionArn"]
    detail = {
        "executionArn": arn,
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution.get("name"),
        "status": execution["status"],
        "startDate": _epoch_ms(execution.get("startDate")),
        "stopDate": _epoch_ms(stop),
        "input": execution.get("input"),
        "output": output,
        "error": execution.get("error"),
        "cause": execution.get("cause"),
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
    }
    moment = stop if stop is not None else datetime.now(UTC)
    return event_envelope(
        "Step Functions Execution Status Change", "aws.states", account_id, region, moment, arn, detail
    )


class StatusEventWatcher:
    """Delivers each terminal execution of `state_machine_arns` to the matching `rules`, once.

    `terminated(arn, machine)` queues an execution that ended; `start()` runs a daemon thread that
    delivers the queue; `stop()` ends it, and no delivery starts after `stop()` was called. At most
    `MAX_TRACKED` executions are remembered: beyond that the oldest may be delivered again (EventBridge
    itself delivers at least once).
    """

    def __init__(
        self,
        *,
        describe: Describe,
        invoke: Invoke,
        rules: Sequence[EventRuleSpec],
        state_machine_arns: Sequence[str],
        account_id: str,
        region: str,
    ):
        self._describe = describe
        self._invoke_target = invoke
        self._rules = list(rules)
        self._machines = list(state_machine_arns)
        self._account_id = account_id
        self._region = region
        self._ended: queue.Queue[str] = queue.Queue()
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._deliveries: deque[Delivery] = deque(maxlen=_MAX_DELIVERY_RECORDS)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """True when there is something to watch: rules and state machines."""
        return bool(self._rules and self._machines)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery so far (oldest first, bounded)."""
        with self._lock:
            return list(self._deliveries)

    def start(self) -> None:
        """Start the polling thread (no-op when inactive or already started)."""
        if not self.active or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="local-stack-status-events", daemon=True)
        self._thread.start()
        log.info(
            "status-change events delivered to event rules",
            extra={"rules": [rule.logical_id for rule in self._rules], "state_machines": self._machines},
        )

    def stop(self, timeout_seconds: float = _STOP_JOIN_SECONDS) -> None:
        """Stop the thread and wait (bounded) for a delivery in progress to finish. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
            if self._thread.is_alive():
                log.warning("status-change watcher still busy after stop", extra={"seconds": timeout_seconds})

    def handled(self, execution_arn: str) -> bool:
        """True once `execution_arn` was seen terminal and its deliveries (if any) are done.

        Always true when the watcher is inactive (nothing would ever be delivered).
        """
        if not self.active:
            return True
        with self._lock:
            return execution_arn in self._handled

    def terminated(self, execution_arn: str, state_machine_arn: str) -> None:
        """Queue an execution that reached a terminal status (called from moto's execution thread)."""
        if self.active and state_machine_arn in self._machines and not self._stop.is_set():
            self._ended.put(execution_arn)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Empty):
                self._handle(self._ended.get(timeout=_WAKE_SECONDS))

    def sweep(self) -> None:
        """Deliver every queued execution now (the thread does it as they come; public for tests)."""
        while not self._stop.is_set():
            try:
                self._handle(self._ended.get_nowait())
            except queue.Empty:
                return

    def _handle(self, arn: str) -> None:
        if self._stop.is_set() or self.handled(arn):
            return
        try:
            execution = self._describe(arn)
            if execution.get("status") in TERMINAL:
                self._deliver(status_change_event(execution, self._account_id, self._region))
        except Exception:
            log.warning("status-change event not built", exc_info=True, extra={"execution": arn})
        with self._lock:
            self._handled[arn] = None
            while len(self._handled) > MAX_TRACKED:
                self._handled.popitem(last=False)

    def _deliver(self, event: dict[str, Any]) -> None:
        detail = event["detail"]
        for rule in self._rules:
            if not rule.pattern.matches(event):
                continue
            for target in rule.targets:
                try:
                    ok, attempts, error = self._invoke_target(target, event)
                except Exception as exc:
                    ok, attempts, error = False, 0, f"{type(exc).__name__}: {exc}"
                arn, status = str(detail["executionArn"]), str(detail["status"])
                with self._lock:
                    self._deliveries.append(
                        Delivery(arn, status, rule.logical_id, target, attempts, ok, error)
                    )
                fields = {"rule": rule.logical_id, "function": target, "execution": arn, "status": status}
                if ok:
                    log.info("status-change event delivered", extra={**fields, "attempts": attempts})
                else:
                    log.error(
                        "status-change event not delivered: %s", error, extra={**fields, "attempts": attempts}
                    )
