"""What moto keeps of finished work: histories on disk and still readable, no per-execution leftovers."""

from __future__ import annotations

import gc
import io
import json
import os
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local_stack import retention
from local_stack.lambda_hook import HookError
from local_stack.server import S3_MEMORY_BYTES
from local_stack.stack import LocalStack

FIXTURE = Path(__file__).parent / "fixtures" / "template.yaml"
ROLE = "arn:aws:iam::123456789012:role/pass-chain"
PASSES = 6
DEADLINE = 30.0


@pytest.fixture(scope="module")
def stack(stub_ocr: object) -> Iterator[LocalStack]:
    with LocalStack.start(template=FIXTURE, ocr=stub_ocr) as running:
        yield running


@pytest.fixture(scope="module")
def chain(stack: LocalStack) -> str:
    """A chain of Pass states."""
    states: dict[str, Any] = {
        f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} if i < PASSES - 1 else {"Type": "Pass", "End": True}
        for i in range(PASSES)
    }
    return _machine(stack, "pass-chain", {"StartAt": "P0", "States": states})


def _machine(stack: LocalStack, name: str, definition: dict[str, Any]) -> str:
    created = stack.sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    return str(created["stateMachineArn"])


def _run(stack: LocalStack, machine: str, inputs: list[str]) -> list[dict[str, Any]]:
    arns = [
        stack.sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input=i)["executionArn"]
        for i in inputs
    ]
    deadline = time.monotonic() + DEADLINE
    described: list[dict[str, Any]] = []
    for arn in arns:
        while True:
            info = stack.sfn.describe_execution(executionArn=arn)
            if info["status"] != "RUNNING":
                described.append(info)
                break
            assert time.monotonic() < deadline, f"{arn} still running after {DEADLINE} s"
            time.sleep(0.05)
    return described


def _wait_released(arns: list[str]) -> None:
    """Wait until moto's interpreter threads have ended and each execution's end hook has run: moto
    reports an execution's status before the hook that moves its history to disk (AWS has no such
    window, but a test measuring right after the status would catch the hook at work)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    deadline = time.monotonic() + DEADLINE
    while any(thread.is_alive() for thread in TMP_THREADS) or not all(
        isinstance(_moto_execution(arn).exec_worker.env, retention.EndedEnvironment) for arn in arns
    ):
        assert time.monotonic() < deadline, f"end hooks still running after {DEADLINE} s"
        time.sleep(0.02)


def _history(stack: LocalStack, arn: str) -> list[dict[str, Any]]:
    return list(stack.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"])


def _moto_execution(arn: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for region_backends in stepfunctions_parser_backends.values():
        for backend in region_backends.values():
            for execution in backend._get_executions():
                if execution.exec_arn == arn:
                    return execution
    raise AssertionError(f"{arn} not in moto")


def _settled(measure: Callable[[], float], bound: float, attempts: int = 5) -> float:
    """`measure()` after a full collection, again (a second apart, a few times) while above `bound`: what
    stays, not what a request or thread still in flight holds for a moment."""
    for _ in range(attempts - 1):
        gc.collect()
        if (value := measure()) < bound:
            return value
        time.sleep(1.0)
    gc.collect()
    return measure()


def test_finished_executions_retain_a_bounded_share_of_memory(stack: LocalStack, chain: str) -> None:
    # GIVEN a chain of Pass states (each records its 32 KiB input and output in the history), warmed up
    machine = chain
    payload = json.dumps({"blob": "x" * 32 * 1024})
    _run(stack, machine, [payload] * 3)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]

        # WHEN 20 more executions run to their end
        runs = 20
        described = _run(stack, machine, [payload] * runs)
        _wait_released([info["executionArn"] for info in described])
        del described
        retained = _settled(lambda: (tracemalloc.get_traced_memory()[0] - before) / runs, len(payload) / 2)
    finally:
        tracemalloc.stop()

    # THEN each keeps less than its 32 KiB input: neither its history of 2 x 6 state payloads (over 400
    # KiB in memory: moto's own keeping), nor its interpreter's state, nor its input (kept parsed and as
    # given) and output (96 KiB), which are on disk with its history
    assert retained < len(payload) / 2, f"{retained / 1024:.0f} KiB retained per finished execution"


def test_history_of_a_released_execution_reads_back_whole(stack: LocalStack, chain: str) -> None:
    # GIVEN an execution of the Pass chain that has ended
    (info,) = _run(stack, chain, ['{"n": 1}'])

    # WHEN its history is read through the Step Functions API
    events = _history(stack, info["executionArn"])

    # THEN moto holds no interpreter state for it, and the history is complete and in order, from the
    # start with its input to the success with its output
    assert isinstance(_moto_execution(info["executionArn"]).exec_worker.env, retention.EndedEnvironment)
    types = [event["type"] for event in events]
    assert types == ["ExecutionStarted"] + ["PassStateEntered", "PassStateExited"] * PASSES + [
        "ExecutionSucceeded"
    ]
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == {"n": 1}
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == {"n": 1}
    assert info["status"] == "SUCCEEDED" and json.loads(info["output"]) == {"n": 1}
    stamps = [event["timestamp"] for event in events]
    assert stamps == sorted(stamps) and stamps[0] >= info["startDate"]


def test_input_and_output_of_a_released_execution_read_back_whole(stack: LocalStack, chain: str) -> None:
    # GIVEN an execution of the Pass chain that has ended, with an input of 20 KiB
    given = json.dumps({"n": 2, "blob": "é" * 10000})
    (info,) = _run(stack, chain, [given])

    # WHEN it is described again and listed
    described = stack.sfn.describe_execution(executionArn=info["executionArn"])
    listed = stack.sfn.list_executions(stateMachineArn=chain, statusFilter="SUCCEEDED")["executions"]

    # THEN its input and output read back whole from disk, and moto's object holds neither in memory
    assert json.loads(described["input"]) == json.loads(given) == json.loads(described["output"])
    assert described["status"] == "SUCCEEDED" and info["executionArn"] in {e["executionArn"] for e in listed}
    assert not {"input_data", "execution_input", "output"} & set(vars(_moto_execution(info["executionArn"])))


def test_timed_out_execution_keeps_its_final_event(stack: LocalStack, chain: str) -> None:
    # GIVEN an execution that times out in a Wait state (its final event comes after its end is recorded)
    waits = _machine(
        stack,
        "times-out",
        {"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3, "End": True}}},
    )
    (info,) = _run(stack, waits, ["{}"])
    assert info["status"] == "TIMED_OUT"

    # WHEN its history is read once the wait is over and another execution has ended
    time.sleep(3.5)
    _run(stack, chain, ["{}"])
    events = _history(stack, info["executionArn"])

    # THEN the history ends with the timeout, whether it was moved to disk or not yet
    assert events[-1]["type"] == "ExecutionTimedOut"


def test_finished_interpreter_threads_are_not_kept(stack: LocalStack, chain: str) -> None:
    # GIVEN moto's list of the threads its interpreter started
    from moto.stepfunctions.parser.utils import TMP_THREADS

    # WHEN 15 executions have run to their end at once, then one more alone
    _wait_released([info["executionArn"] for info in _run(stack, chain, ["{}"] * 15)])
    _run(stack, chain, ["{}"])

    # THEN it lists only the last one's threads (moto appends two per execution; those of executions
    # ending at the same moment are removed at the next end)
    assert len(TMP_THREADS) <= 2, f"{len(TMP_THREADS)} threads listed"


def test_overwritten_dynamodb_items_are_not_kept(stack: LocalStack) -> None:
    # GIVEN a table and moto's list of DynamoDB item instances
    from moto.dynamodb.models.dynamo_type import Item

    dynamodb = stack.clients["dynamodb"]
    dynamodb.create_table(
        TableName="overwrites",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    # WHEN one item is written 200 times
    for n in range(200):
        dynamodb.put_item(TableName="overwrites", Item={"pk": {"S": "one"}, "n": {"N": str(n)}})
    gc.collect()

    # THEN the table holds its last version, and moto no longer keeps the 199 it replaced
    item = dynamodb.get_item(TableName="overwrites", Key={"pk": {"S": "one"}})["Item"]
    assert item["n"] == {"N": "199"}
    assert len(list(Item.instances_tracked)) < 50


@pytest.mark.parametrize("size", [1024, 16 * 1024 - 1, 16 * 1024 + 1, 300 * 1024])
def test_object_bodies_read_back_unchanged_on_either_side_of_the_memory_bound(
    stack: LocalStack, size: int
) -> None:
    # GIVEN a body below or above the bound (16 KiB) above which moto keeps bodies in temporary files
    from moto.s3.models import s3_backends

    bound = int(S3_MEMORY_BYTES["MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"])
    body = os.urandom(size)
    key = f"other/body-{size}.bin"

    # WHEN it is put (outside the notification prefix) and read back
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body)
    read = stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()

    # THEN it reads back unchanged, from disk when over the bound
    assert read == body
    stored = next(
        backend.buckets[stack.bucket].keys[key]
        for region_backends in s3_backends.values()
        for backend in region_backends.values()
        if stack.bucket in backend.buckets
    )
    assert stored._value_buffer._rolled == (size > bound)
    # a body on disk keeps no write buffer of its own (8 KiB each, for the life of the object version)
    assert not stored._value_buffer._rolled or isinstance(stored._value_buffer._file, io.FileIO)


def test_request_bodies_are_freed_without_waiting_for_a_full_garbage_collection(stack: LocalStack) -> None:
    # GIVEN the cyclic garbage collector paused (as it is, in effect, between rare full collections)
    body = os.urandom(1024 * 1024)
    stack.s3.put_object(Bucket=stack.bucket, Key="other/warm.bin", Body=body)
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]

        # WHEN five 1 MiB bodies are put (kept on disk by moto: over the memory bound)
        for n in range(5):
            stack.s3.put_object(Bucket=stack.bucket, Key=f"other/freed-{n}.bin", Body=body)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()

    # THEN the requests and their bodies were freed as each ended, not left in reference cycles
    assert held < 2 * len(body), f"{held / 2**20:.1f} MiB held after 5 requests of 1 MiB"


def test_history_store_reads_back_what_it_was_given() -> None:
    # GIVEN a store and two histories with timestamps and nested details
    store = retention.HistoryStore()
    first = [{"id": 1, "timestamp": datetime(2026, 1, 2, tzinfo=UTC), "details": {"input": "é" * 5000}}]
    second = [{"id": n, "type": "PassStateEntered"} for n in range(1, 40)]
    try:
        # WHEN both are put and read back (in the other order)
        store.put("arn:second", second)
        store.put("arn:first", first)

        # THEN each reads back equal, and the file holds them compressed
        assert store.get("arn:first") == first
        assert store.get("arn:second") == second
        assert "arn:first" in store and "arn:other" not in store
        assert 0 < store.size_bytes < 2000
    finally:
        store.close()


def test_live_instances_forget_what_was_collected() -> None:
    # GIVEN moto-style instance tracking with weak references
    class Model:
        pass

    tracked = retention.LiveInstances()
    kept = Model()
    tracked.append(kept)
    tracked.append(Model())  # referenced by nobody
    tracked.append(42)  # no weak reference possible: kept as moto would
    gc.collect()

    # WHEN / THEN only what is still alive is listed
    assert list(tracked) == [kept, 42]
    assert len(tracked) == 2


def test_check_points_refuse_a_moto_without_the_thread_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a moto whose interpreter no longer has its thread list
    from moto.stepfunctions.parser import utils

    monkeypatch.delattr(utils, "TMP_THREADS")

    # WHEN / THEN the check refuses, naming the pinned version
    with pytest.raises(HookError, match=r"TMP_THREADS.*moto==5\.2\.5"):
        retention.check_points()


def test_check_points_accept_the_installed_moto() -> None:
    # GIVEN / WHEN / THEN the pinned moto passes
    retention.check_points()
