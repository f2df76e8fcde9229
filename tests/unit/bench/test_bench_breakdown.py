"""The per-execution time split of the throughput bench, from a Step Functions history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.breakdown import THROTTLED, execution_split

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _event(seconds: float, kind: str, **details: Any) -> dict[str, Any]:
    return {"timestamp": START + timedelta(seconds=seconds), "type": kind, **details}


def test_split_separates_handlers_throttled_retries_and_wait_states() -> None:
    # GIVEN a history: a throttled invoke, its retry 2 s later, a 1 s handler, a 3 s Wait, a 0.5 s handler
    throttled = {"lambdaFunctionFailedEventDetails": {"error": THROTTLED}}
    history = [
        _event(0.0, "ExecutionStarted"),
        _event(0.1, "LambdaFunctionScheduled"),
        _event(0.1, "LambdaFunctionStarted"),
        _event(0.2, "LambdaFunctionFailed", **throttled),
        _event(2.2, "LambdaFunctionScheduled"),
        _event(2.2, "LambdaFunctionStarted"),
        _event(3.2, "LambdaFunctionSucceeded"),
        _event(3.3, "WaitStateEntered"),
        _event(6.3, "WaitStateExited"),
        _event(6.4, "LambdaFunctionScheduled"),
        _event(6.4, "LambdaFunctionStarted"),
        _event(6.9, "LambdaFunctionSucceeded"),
        _event(7.0, "ExecutionSucceeded"),
    ]

    # WHEN it is split
    split = execution_split(history)

    # THEN each part has its seconds and the rest is the interpreter's
    assert split["execution"] == pytest.approx(7.0, abs=1e-3)
    assert split["handler"] == pytest.approx(1.5, abs=1e-3)
    assert split["throttled_invoke"] == pytest.approx(0.1, abs=1e-3)
    assert split["throttled_retry_wait"] == pytest.approx(2.0, abs=1e-3)
    assert split["wait_states"] == pytest.approx(3.0, abs=1e-3)
    assert split["other_retry_wait"] == 0.0
    assert split["interpreter_and_invoke_round_trips"] == pytest.approx(0.4, abs=1e-3)


def test_split_counts_the_wait_for_an_admission_slot_apart() -> None:
    # GIVEN a history that waits 5 s in the admission state, then runs a 1 s handler
    history = [
        _event(0.0, "ExecutionStarted"),
        _event(0.0, "TaskStateEntered", stateEnteredEventDetails={"name": "Acquire slot"}),
        _event(5.0, "TaskStateExited", stateExitedEventDetails={"name": "Acquire slot"}),
        _event(5.1, "LambdaFunctionScheduled"),
        _event(5.1, "LambdaFunctionStarted"),
        _event(6.1, "LambdaFunctionSucceeded"),
        _event(6.2, "ExecutionSucceeded"),
    ]
    # WHEN it is split / THEN the slot wait is its own part, not the interpreter's
    split = execution_split(history)
    assert split["admission_wait"] == pytest.approx(5.0, abs=1e-3)
    assert split["handler"] == pytest.approx(1.0, abs=1e-3)
    assert split["interpreter_and_invoke_round_trips"] == pytest.approx(0.2, abs=1e-3)


def test_split_of_an_empty_history_is_empty() -> None:
    # GIVEN / WHEN / THEN no events, no split
    assert execution_split([]) == {}
