"""The process hosting the stack gives the memory its allocator holds free back to the system, and
moto's interpreter holds one thread, not two, for an execution between tasks."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack import retention, server
from local_stack.stack import LocalStack

FIXTURE = Path(__file__).parent / "fixtures" / "template.yaml"
MIB = 1024 * 1024
BLOCK = 4096
"""Above CPython's small-object limit (512 B): each block is a glibc malloc chunk."""
FREED_MIB = 64
DEADLINE = 15.0

ROLE = "arn:aws:iam::123456789012:role/waits"
GLIBC = pytest.mark.skipif(server._glibc() is None, reason="trimming is glibc malloc's")


@pytest.fixture(scope="module")
def stack(stub_ocr: object) -> Iterator[LocalStack]:
    with LocalStack.start(template=FIXTURE, ocr=stub_ocr) as running:
        yield running


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _blocks_with_pins(mib: int) -> tuple[list[bytes], list[bytes]]:
    """`mib` MiB in malloc'd blocks, and a small malloc'd block after each MiB of them: freeing the big
    ones leaves free memory below blocks in use, which glibc keeps (by itself it trims only the top of
    a heap)."""
    blocks: list[bytes] = []
    pins: list[bytes] = []
    for n in range(mib):
        blocks.extend(bytes([n % 251]) * BLOCK for _ in range(MIB // BLOCK))
        pins.append(bytes(600))
    return blocks, pins


def _settled_below(bound: float) -> float:
    """RSS once below `bound`, re-measured until `DEADLINE` (the last value if it never gets there)."""
    deadline = time.monotonic() + DEADLINE
    while (rss := _rss_mib()) >= bound and time.monotonic() < deadline:
        time.sleep(0.2)
    return rss


@GLIBC
def test_memory_freed_below_blocks_in_use_goes_back_to_the_system(stack: LocalStack) -> None:
    # GIVEN the running stack, and 64 MiB more in use in its process, each MiB followed by a small block
    blocks, pins = _blocks_with_pins(FREED_MIB)
    with_blocks = _rss_mib()

    # WHEN the 64 MiB are freed and the small blocks stay in use (as a burst leaves requests, parsed
    # JSON and ended executions' threads freed below what the running ones still hold)
    del blocks

    # THEN within seconds at least half of it is resident no more (glibc alone would keep it all)
    rss = _settled_below(with_blocks - FREED_MIB / 2)
    assert rss < with_blocks - FREED_MIB / 2, f"RSS {rss:.0f} MiB, {with_blocks:.0f} MiB with the blocks"
    assert stack.trimmer.trims > 0
    assert len(pins) == FREED_MIB


@GLIBC
def test_trimmer_trims_every_period_until_stopped() -> None:
    # GIVEN a trimmer with a short period
    trimmer = server.FreeMemoryTrimmer(period=0.05)

    # WHEN it runs until it has trimmed three times, then is stopped
    trimmer.start()
    deadline = time.monotonic() + DEADLINE
    while trimmer.trims < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    trimmer.stop()
    stopped_at = trimmer.trims
    time.sleep(0.2)

    # THEN it trimmed, and trims no more once stopped
    assert stopped_at >= 3
    assert trimmer.trims == stopped_at


def _machine(stack: LocalStack, definition: dict[str, object]) -> str:
    created = stack.sfn.create_state_machine(
        name=uuid.uuid4().hex, definition=json.dumps(definition), roleArn=ROLE
    )
    return str(created["stateMachineArn"])


def _start(stack: LocalStack, machine: str, count: int) -> list[str]:
    return [
        stack.sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex)["executionArn"]
        for _ in range(count)
    ]


def _statuses(stack: LocalStack, arns: list[str], deadline_seconds: float) -> list[str]:
    """Each execution's status once none is running (the deadline fails the test)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        statuses = [stack.sfn.describe_execution(executionArn=arn)["status"] for arn in arns]
        if "RUNNING" not in statuses:
            return statuses
        assert time.monotonic() < deadline, f"{statuses.count('RUNNING')} still running"
        time.sleep(0.1)


def test_an_execution_in_a_wait_state_holds_one_thread(stack: LocalStack) -> None:
    # GIVEN a state machine with a timeout whose executions wait 3 s in a Wait state
    machine = _machine(
        stack,
        {"TimeoutSeconds": 60, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3, "End": True}}},
    )
    before = threading.active_count()

    # WHEN 20 executions are waiting at once
    arns = _start(stack, machine, 20)
    deadline = time.monotonic() + DEADLINE
    while stack.sfn.get_execution_history(executionArn=arns[-1])["events"][-1]["type"] != "WaitStateEntered":
        assert time.monotonic() < deadline, "the last execution never reached its Wait state"
        time.sleep(0.05)
    waiting = threading.active_count() - before

    # THEN they hold one thread each (moto's interpreter: two, the execution's waiting for its program's)
    # and all succeed after their wait
    assert waiting <= 25, f"{waiting} threads for 20 waiting executions"
    assert _statuses(stack, arns, DEADLINE) == ["SUCCEEDED"] * 20


def test_an_execution_times_out_at_its_timeout_while_its_program_waits(stack: LocalStack) -> None:
    # GIVEN a state machine that times out after 1 s, in a Wait state of 30 s
    machine = _machine(
        stack,
        {"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}},
    )
    started = time.monotonic()

    # WHEN three executions run
    arns = _start(stack, machine, 3)

    # THEN each is TIMED_OUT about a second later (not after its wait), its history ending with the
    # timeout, and no deadline is left registered for them
    assert _statuses(stack, arns, DEADLINE) == ["TIMED_OUT"] * 3
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + DEADLINE
    while any(
        stack.sfn.get_execution_history(executionArn=arn)["events"][-1]["type"] != "ExecutionTimedOut"
        for arn in arns
    ):
        assert time.monotonic() < deadline, "no ExecutionTimedOut event"
        time.sleep(0.1)
    assert retention.DEADLINES.pending() == 0


def test_an_execution_that_ends_before_its_timeout_leaves_no_deadline(stack: LocalStack) -> None:
    # GIVEN a state machine with an hour's timeout and a single Pass state
    machine = _machine(
        stack, {"TimeoutSeconds": 3600, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )

    # WHEN five executions run to their end
    arns = _start(stack, machine, 5)

    # THEN they succeed, and the deadline registry holds nothing for them
    assert _statuses(stack, arns, DEADLINE) == ["SUCCEEDED"] * 5
    assert retention.DEADLINES.pending() == 0
