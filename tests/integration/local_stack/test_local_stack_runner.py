"""The function runner on real worker processes (no moto): isolation, concurrency caps, timeouts, retries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local_stack.resources import FunctionSpec
from local_stack.runner import Runner, RunnerOptions, Throttled

HANDLERS = Path(__file__).parent / "fixtures" / "handlers"
DEADLINE = 30.0


def _function(name: str, handler: str, **fields: Any) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name,
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        code_uri=HANDLERS,
        handler=f"fixture_handlers.{handler}",
        runtime="python3.11",
        timeout=int(fields.pop("timeout", 10)),
        memory_size=int(fields.pop("memory_size", 128)),
        **fields,
    )


FUNCTIONS = (
    _function("first", "whoami", environment={"ECHO_TAG": "first"}, memory_size=512),
    _function("second", "whoami", environment={"ECHO_TAG": "second"}),
    _function("slow", "sleep", timeout=2, reserved_concurrency=1),
    _function(
        "fail",
        "fail",
        max_retry_attempts=1,
        dead_letter_arn="arn:aws:sqs:us-east-1:1:dlq",
        on_failure_arn="arn:aws:sqs:us-east-1:1:destination",
    ),
    _function("hungry", "allocate", memory_size=192),
)


@pytest.fixture(scope="module")
def dead_letters() -> list[tuple[str, Any, str, str, str]]:
    return []


@pytest.fixture(scope="module")
def destinations() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture(scope="module")
def runner(
    dead_letters: list[tuple[str, Any, str, str, str]], destinations: list[tuple[str, dict[str, Any]]]
) -> Iterator[Runner]:
    options = RunnerOptions(retry_delays=(0.2, 0.2), duplicate_delivery_rate=1.0, seed=1)
    running = Runner(
        FUNCTIONS,
        options=options,
        dead_letter=lambda *args: dead_letters.append(args),
        on_failure=lambda target, record: destinations.append((target, record)),
    )
    yield running
    running.close()


def _wait(items: list[Any]) -> None:
    for item in items:
        assert item.done.wait(DEADLINE)


def test_two_functions_invoked_at_once_each_see_only_their_own_environment(runner: Runner) -> None:
    # GIVEN two functions of the same code with conflicting ECHO_TAG values
    # WHEN both are invoked at the same time, twice each
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(runner.invoke, name, {"seconds": 0.5}) for name in ("first", "second") * 2]
        results = [json.loads(f.result()[0]) for f in futures]

    # THEN each saw its own variable, at import and at run time, in processes of its own
    for name, result in zip(("first", "second") * 2, results, strict=True):
        assert (result["tag"], result["tag_at_import"]) == (name, name)
    first_pids = {r["pid"] for r in results if r["tag"] == "first"}
    second_pids = {r["pid"] for r in results if r["tag"] == "second"}
    assert first_pids.isdisjoint(second_pids)
    assert results[0]["memory"] == 512


def test_cold_start_forks_from_the_template_and_reports_its_init_time(runner: Runner) -> None:
    # GIVEN a runner whose functions share one code directory (one worker template)
    # WHEN a function runs for the first time
    result = json.loads(runner.invoke("first", {})[0])
    cold = next(r for r in runner.records if r.function_name == "first" and r.cold_start)

    # THEN its environment is a child of the template, and the cold start's wall and CPU time are kept
    assert result["parent_pid"] in runner.template_pids()
    assert 0 < cold.init_cpu_seconds < cold.init_seconds + 1
    assert cold.init_seconds > 0


def test_warm_worker_is_reused_and_keeps_only_its_own_module_state(runner: Runner) -> None:
    # GIVEN a function invoked once (its worker is now warm)
    first = json.loads(runner.invoke("second", {})[0])

    # WHEN it is invoked again, one call at a time
    again = json.loads(runner.invoke("second", {})[0])

    # THEN the same process answered, its module state counting only this function's calls
    assert again["pid"] == first["pid"]
    assert again["calls_in_process"] == first["calls_in_process"] + 1
    assert runner.records[-1].cold_start is False
    assert runner.records[-1].max_memory_mb > 0


def test_sync_invoke_beyond_reserved_concurrency_is_throttled(runner: Runner) -> None:
    # GIVEN a function with ReservedConcurrentExecutions 1, busy with one invocation
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = pool.submit(runner.invoke, "slow", {"seconds": 1})
        time.sleep(0.3)
        # WHEN a second synchronous invoke arrives
        # THEN it is refused at once, and the first one completes
        with pytest.raises(Throttled):
            runner.invoke("slow", {"seconds": 0})
        assert busy.result(timeout=DEADLINE)[1] is False
    assert runner.throttles()["slow"]["RequestResponse"] >= 1


def test_async_invokes_beyond_reserved_concurrency_wait_and_all_run(runner: Runner) -> None:
    # GIVEN a function with ReservedConcurrentExecutions 1
    before = len([r for r in runner.records if r.function_name == "slow"])

    # WHEN three asynchronous invocations arrive at once
    items = [item for _ in range(3) for item in runner.invoke_async("slow", {"seconds": 0.3})]
    _wait(items)

    # THEN all ran, one at a time, and the waiting ones were counted as throttled
    assert all(item.ok for item in items)
    assert len([r for r in runner.records if r.function_name == "slow"]) == before + 3
    assert runner.peak_concurrency()["slow"] == 1
    assert runner.throttles()["slow"]["Event"] >= 1


def test_invocation_over_its_timeout_is_killed_as_sandbox_timedout(runner: Runner) -> None:
    # GIVEN a function with Timeout 2
    started = time.monotonic()

    # WHEN an invocation would take 30 s
    payload, errored = runner.invoke("slow", {"seconds": 30})

    # THEN it fails as Lambda reports a timeout, after about 2 s, and the next call runs in a fresh worker
    assert errored and json.loads(payload)["errorType"] == "Sandbox.Timedout"
    assert time.monotonic() - started < 10
    assert runner.invoke("slow", {"seconds": 0})[1] is False
    assert runner.records[-1].cold_start is True


@pytest.mark.parametrize("seconds", [1.0, 0.0], ids=["held", "released-at-once"])
def test_invocation_over_its_memory_size_is_killed_and_the_next_one_starts_cold(
    runner: Runner, seconds: float
) -> None:
    # GIVEN a function with MemorySize 192, warm
    first = json.loads(runner.invoke("hungry", {})[0])

    # WHEN an invocation allocates 400 MiB (held for a while, or freed before the answer)
    payload, errored = runner.invoke("hungry", {"mb": 400, "seconds": seconds})

    # THEN it fails as Lambda's OOM kill, and the next invocation succeeds in a new environment
    error = json.loads(payload)
    assert errored and error["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in error["errorMessage"]
    assert runner.records[-1].max_memory_mb >= 192
    again, errored_again = runner.invoke("hungry", {"mb": 1})
    assert errored_again is False and json.loads(again)["pid"] != first["pid"]
    assert runner.records[-1].cold_start is True


def test_async_function_error_is_retried_then_sent_to_the_dead_letter_queue_and_destination(
    runner: Runner,
    dead_letters: list[tuple[str, Any, str, str, str]],
    destinations: list[tuple[str, dict[str, Any]]],
) -> None:
    # GIVEN a function that always fails, MaximumRetryAttempts 1, a DLQ and an on-failure destination
    # WHEN it is invoked asynchronously
    (item,) = runner.invoke_async("fail", {"n": 1})
    _wait([item])

    # THEN it ran twice (first attempt + 1 retry), then the event went to the DLQ with the error
    assert (item.ok, item.attempts) == (False, 2)
    target, event, request_id, error_type, _ = dead_letters[-1]
    assert (target, event, request_id) == (FUNCTIONS[3].dead_letter_arn, {"n": 1}, item.request_id)
    assert error_type == "FixtureError"
    # AND the destination got Lambda's invocation record: request, condition, attempts, error
    target, record = destinations[-1]
    assert target == FUNCTIONS[3].on_failure_arn
    assert record["requestPayload"] == {"n": 1}
    assert record["requestContext"]["requestId"] == item.request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responsePayload"]["errorType"] == "FixtureError"


def test_duplicate_delivery_rate_accepts_an_event_twice(runner: Runner) -> None:
    # GIVEN a runner whose duplicate-delivery rate is 1
    # WHEN an event is delivered with at-least-once semantics
    items = runner.invoke_async("second", {}, duplicates=True)
    _wait(items)

    # THEN the function ran for both copies, each with its own request id
    assert len(items) == 2 and all(item.ok for item in items)
    assert items[0].request_id != items[1].request_id


def test_unreserved_functions_beyond_the_account_limit_is_refused() -> None:
    # GIVEN / WHEN an account limit that leaves nothing for the unreserved functions
    # THEN the runner refuses to start, naming the reservation
    with pytest.raises(ValueError, match="reserved: 1"):
        Runner(FUNCTIONS, options=RunnerOptions(account_concurrency=1))


def test_invocations_beyond_the_local_worker_limit_wait_instead_of_being_throttled() -> None:
    # GIVEN an unreserved function (account limit 1,000) allowed one worker process locally
    running = Runner(FUNCTIONS[:1], options=RunnerOptions(max_processes=1))
    try:
        # WHEN two synchronous invokes arrive at once
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(running.invoke, "first", {"seconds": 0.5}) for _ in range(2)]
            results = [f.result(timeout=DEADLINE) for f in futures]

        # THEN both ran, one after the other in the same worker, and none was throttled (AWS would not)
        assert [errored for _, errored in results] == [False, False]
        assert len({json.loads(payload)["pid"] for payload, _ in results}) == 1
        assert running.throttles()["first"] == {}
        assert running.peak_concurrency()["first"] == 1
    finally:
        running.close()
