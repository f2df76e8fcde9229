"""The status-change watcher with fake Step Functions and Lambda: events, matching, delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from local_stack.event_rules import EventPattern, EventRuleSpec
from local_stack.status_events import StatusEventWatcher, status_change_event

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:recorder"
START = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
STOP = datetime(2026, 1, 2, 3, 4, 8, 500000, tzinfo=UTC)


def _execution(name: str, status: str, stop: datetime | None = STOP) -> dict[str, Any]:
    execution: dict[str, Any] = {
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:m:{name}",
        "stateMachineArn": MACHINE,
        "name": name,
        "status": status,
        "startDate": START,
        "input": '{"object": {"key": "incoming/a.png"}}',
    }
    if stop is not None:
        execution["stopDate"] = stop
    return execution


class FakeSfn:
    def __init__(self, executions: list[dict[str, Any]]):
        self.executions = executions

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return next(dict(e) for e in self.executions if e["executionArn"] == execution_arn)


class FakeLambda:
    """An asynchronous invocation run to its end: fails after 3 attempts with `function_error`."""

    def __init__(self, function_error: str | None = None):
        self.calls: list[tuple[str, Any]] = []
        self.function_error = function_error

    def __call__(self, function_arn: str, event: Any) -> tuple[bool, int, str | None]:
        self.calls.append((function_arn, event))
        if self.function_error:
            return False, 3, self.function_error
        return True, 1, None


def _rule(statuses: list[str]) -> EventRuleSpec:
    pattern = EventPattern.compile(
        {"source": ["aws.states"], "detail": {"status": statuses, "stateMachineArn": [MACHINE]}}
    )
    return EventRuleSpec("Rule", pattern, (FUNCTION,))


def _watcher(sfn: FakeSfn, lam: FakeLambda, statuses: list[str]) -> StatusEventWatcher:
    """A watcher told (as moto's hook tells it) of every terminal execution of `sfn`."""
    watcher = StatusEventWatcher(
        describe=sfn.describe,
        invoke=lam,
        rules=[_rule(statuses)],
        state_machine_arns=[MACHINE],
        account_id="123456789012",
        region="us-east-1",
    )
    for execution in sfn.executions:
        if execution["status"] != "RUNNING":
            watcher.terminated(execution["executionArn"], MACHINE)
    return watcher


def test_status_change_event_has_the_documented_shape() -> None:
    # GIVEN an aborted execution as describe_execution returns it
    execution = _execution("e1", "ABORTED")

    # WHEN its event is built
    event = status_change_event(execution, "123456789012", "us-east-1")

    # THEN envelope and detail follow the AWS format, dates in epoch milliseconds
    assert {k: event[k] for k in ("version", "detail-type", "source", "account", "region", "time")} == {
        "version": "0",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "region": "us-east-1",
        "time": "2026-01-02T03:04:08Z",
    }
    assert event["resources"] == [execution["executionArn"]]
    assert event["detail"] == {
        "executionArn": execution["executionArn"],
        "stateMachineArn": MACHINE,
        "name": "e1",
        "status": "ABORTED",
        "startDate": 1767323045250,
        "stopDate": 1767323048500,
        "input": execution["input"],
        "output": None,
        "error": None,
        "cause": None,
        "inputDetails": {"included": True},
        "outputDetails": None,
    }


def test_sweep_delivers_matching_terminal_execution_once() -> None:
    # GIVEN a timed-out, a running and a succeeded execution, and a rule for TIMED_OUT
    sfn = FakeSfn(
        [_execution("t", "TIMED_OUT"), _execution("r", "RUNNING", None), _execution("s", "SUCCEEDED")]
    )
    lam = FakeLambda()
    watcher = _watcher(sfn, lam, ["TIMED_OUT", "ABORTED"])

    # WHEN two sweeps run, the timed-out execution reported twice, and one of another machine reported
    watcher.sweep()
    watcher.terminated(sfn.executions[0]["executionArn"], MACHINE)
    watcher.terminated("arn:aws:states:us-east-1:123456789012:execution:other:x", MACHINE + "-other")
    watcher.sweep()

    # THEN the function received the timed-out execution's event once, and terminal ones are handled
    assert [(fn, payload["detail"]["name"]) for fn, payload in lam.calls] == [(FUNCTION, "t")]
    assert watcher.handled(sfn.executions[0]["executionArn"])
    assert watcher.handled(sfn.executions[2]["executionArn"])
    assert not watcher.handled(sfn.executions[1]["executionArn"])
    assert [(d.status, d.ok, d.attempts) for d in watcher.deliveries] == [("TIMED_OUT", True, 1)]


def test_failing_target_is_recorded_with_its_attempts_without_raising() -> None:
    # GIVEN a function whose asynchronous invocation fails after its retries
    lam = FakeLambda(function_error="Unhandled")
    watcher = _watcher(FakeSfn([_execution("a", "ABORTED")]), lam, ["ABORTED"])

    # WHEN a sweep runs
    watcher.sweep()

    # THEN it was handed over once, recorded as not delivered after 3 attempts, and the execution is handled
    (delivery,) = watcher.deliveries
    assert (delivery.ok, delivery.attempts, len(lam.calls)) == (False, 3, 1)
    assert delivery.error is not None and "Unhandled" in delivery.error
    assert watcher.handled(delivery.execution_arn)


def test_stopped_watcher_delivers_nothing() -> None:
    # GIVEN a watcher stopped before any sweep, and an aborted execution
    lam = FakeLambda()
    watcher = _watcher(FakeSfn([_execution("a", "ABORTED")]), lam, ["ABORTED"])
    watcher.stop()

    # WHEN a sweep runs
    watcher.sweep()

    # THEN no target was invoked
    assert lam.calls == []


def test_watcher_without_rules_is_inactive_and_everything_counts_as_handled() -> None:
    # GIVEN a watcher with no rule
    watcher = StatusEventWatcher(
        describe=FakeSfn([]).describe,
        invoke=FakeLambda(),
        rules=[],
        state_machine_arns=[MACHINE],
        account_id="1",
        region="r",
    )

    # WHEN / THEN it is inactive, and every execution counts as handled
    assert not watcher.active
    assert watcher.handled("any")
