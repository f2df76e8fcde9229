"""Admission slots on a DynamoDB table (moto): the bound, arrival order, handover, and self-healing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from ocr_pipeline.adapters.admission_table import DynamoSlotTable
from ocr_pipeline.domain import admission
from ocr_pipeline.domain.admission import Grant, Waiter

TABLE = "admission"
ARN = "arn:aws:states:us-east-1:123456789012:execution:OcrStateMachine-x:"


@dataclass
class Tokens:
    """Records answered tokens; tokens in `gone` belong to tasks that no longer wait."""

    answered: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)

    def resume(self, token: str) -> bool:
        if token in self.gone:
            return False
        self.answered.append(token)
        return True

    def is_running(self, execution_arn: str) -> bool:
        return execution_arn.rpartition(":")[2] in self.running


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def table(moto_aws: None) -> Iterator[DynamoSlotTable]:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield DynamoSlotTable(client, TABLE)


def acquire(name: str, table: DynamoSlotTable, tokens: Tokens, clock: Clock, limit: int = 2) -> None:
    admission.acquire(name, ARN + name, f"token-{name}", table=table, tokens=tokens, limit=limit, clock=clock)


def test_acquire_beyond_the_limit_waits_and_release_hands_the_slot_to_the_oldest_waiter(
    table: DynamoSlotTable,
) -> None:
    # GIVEN two slots and four executions asking in turn
    tokens, clock = Tokens(), Clock()
    for name in ("a", "b", "c", "d"):
        acquire(name, table, tokens, clock)

    # THEN the first two are resumed at once, the others wait in arrival order
    assert tokens.answered == ["token-a", "token-b"]
    assert sorted(table.holders()) == ["a", "b"]
    assert [w.execution for w in table.oldest_waiters(10)] == ["c", "d"]

    # WHEN b gives its slot back
    released, dispatched = admission.release("b", table=table, tokens=tokens, limit=2, clock=clock)

    # THEN the oldest waiter (c) holds it, d still waits, and never more than two hold one
    assert released and dispatched.granted == ("c",)
    assert sorted(table.holders()) == ["a", "c"]
    assert [w.execution for w in table.oldest_waiters(10)] == ["d"]


class CountingTable:
    """The slot table, counting grant attempts and reads of the holders."""

    def __init__(self, table: DynamoSlotTable) -> None:
        self.table = table
        self.grants: list[Grant] = []
        self.holder_reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.table, name)

    def holders(self) -> dict[str, admission.Holder]:
        self.holder_reads += 1
        return self.table.holders()

    def grant(self, waiter: Waiter, *, limit: int, now: datetime) -> Grant:
        outcome = self.table.grant(waiter, limit=limit, now=now)
        self.grants.append(outcome)
        return outcome


def test_release_grants_the_freed_slot_with_one_write_and_one_read(table: DynamoSlotTable) -> None:
    # GIVEN two slots held and three executions waiting
    tokens, clock = Tokens(), Clock()
    for name in ("a", "b", "c", "d", "e"):
        acquire(name, table, tokens, clock)
    counting = CountingTable(table)

    # WHEN a slot is released
    _, dispatched = admission.release("a", table=counting, tokens=tokens, limit=2, clock=clock)  # type: ignore[arg-type]

    # THEN the oldest waiter gets it in one grant, after one read of the holders: no grant is tried once
    # the slot seen free is taken (it would be refused as full), and the holders are not read again
    assert dispatched.granted == ("c",)
    assert (counting.grants, counting.holder_reads) == ([Grant.GRANTED], 1)
    assert sorted(table.holders()) == ["b", "c"]


def test_release_of_a_slot_not_held_is_harmless(table: DynamoSlotTable) -> None:
    # GIVEN one holder
    tokens, clock = Tokens(), Clock()
    acquire("a", table, tokens, clock)

    # WHEN an execution that holds nothing releases (twice)
    first, _ = admission.release("zzz", table=table, tokens=tokens, limit=2, clock=clock)
    second, _ = admission.release("zzz", table=table, tokens=tokens, limit=2, clock=clock)

    # THEN nothing changes
    assert (first, second) == (False, False)
    assert list(table.holders()) == ["a"]


def test_a_granted_waiter_whose_execution_ended_gives_the_slot_to_the_next(table: DynamoSlotTable) -> None:
    # GIVEN one slot held, and two waiters of which the first has ended (its token is gone)
    tokens, clock = Tokens(), Clock()
    acquire("a", table, tokens, clock, limit=1)
    acquire("b", table, tokens, clock, limit=1)
    acquire("c", table, tokens, clock, limit=1)
    tokens.gone.add("token-b")

    # WHEN a releases
    _, dispatched = admission.release("a", table=table, tokens=tokens, limit=1, clock=clock)

    # THEN b's grant is taken back and c holds the slot
    assert dispatched.stale == ("b",) and dispatched.granted == ("c",)
    assert list(table.holders()) == ["c"]
    assert table.oldest_waiters(10) == []


def test_acquire_retried_by_an_execution_holding_a_slot_resumes_it_without_a_second_slot(
    table: DynamoSlotTable,
) -> None:
    # GIVEN a holds one of two slots
    tokens, clock = Tokens(), Clock()
    acquire("a", table, tokens, clock)

    # WHEN a's Acquire state is retried (a new token)
    admission.acquire("a", ARN + "a", "token-a2", table=table, tokens=tokens, limit=2, clock=clock)

    # THEN the new token is answered and a still counts once
    assert tokens.answered == ["token-a", "token-a2"]
    assert list(table.holders()) == ["a"]
    assert table.oldest_waiters(10) == []


def test_stale_token_of_a_retried_acquire_never_takes_the_slot_of_its_admitted_execution(
    table: DynamoSlotTable,
) -> None:
    # GIVEN a's first Acquire timed out (token-a1 no longer waits) and its retry (token-a2) was admitted
    # while the first waiter entry was still queued
    tokens, clock = Tokens(gone={"token-a1"}), Clock()
    first = Waiter(admission.arrival_key(clock(), "a"), "a", ARN + "a", "token-a1")
    table.enqueue(first)
    second = Waiter(admission.arrival_key(clock(), "a"), "a", ARN + "a", "token-a2")
    table.enqueue(second)
    assert table.grant(second, limit=2, now=clock()) is Grant.GRANTED

    # WHEN a dispatcher reaches the first (stale) entry
    admission.dispatch(table=table, tokens=tokens, limit=2, clock=clock)

    # THEN the entry is dropped and a keeps its slot (the stale token's failure does not release it)
    assert list(table.holders()) == ["a"]
    assert table.holders()["a"].token == "token-a2"
    assert table.oldest_waiters(10) == []


def test_grant_of_a_waiter_taken_by_another_dispatcher_reports_taken(table: DynamoSlotTable) -> None:
    # GIVEN a waiter another dispatcher has granted already
    clock = Clock()
    waiter = Waiter(admission.arrival_key(clock(), "a"), "a", ARN + "a", "token-a")
    table.enqueue(waiter)
    assert table.grant(waiter, limit=2, now=clock()) is Grant.GRANTED

    # WHEN this dispatcher tries to grant it too (it read the queue before the other one wrote)
    outcome = table.grant(waiter, limit=2, now=clock())

    # THEN it is told the waiter is taken, and a holds one slot
    assert outcome is Grant.TAKEN
    assert list(table.holders()) == ["a"]


def test_grant_at_the_limit_reports_full(table: DynamoSlotTable) -> None:
    # GIVEN one slot, held
    tokens, clock = Tokens(), Clock()
    acquire("a", table, tokens, clock, limit=1)
    waiter = Waiter(admission.arrival_key(clock(), "b"), "b", ARN + "b", "token-b")
    table.enqueue(waiter)

    # WHEN a dispatcher with a stale view tries to grant the waiter
    outcome = table.grant(waiter, limit=1, now=clock())

    # THEN the conditional write refuses: the slot count never exceeds the limit
    assert outcome is Grant.FULL
    assert list(table.holders()) == ["a"]
    assert [w.execution for w in table.oldest_waiters(10)] == ["b"]


def test_reconcile_releases_slots_of_ended_executions_and_admits_waiters(table: DynamoSlotTable) -> None:
    # GIVEN two slots held by a (running) and b (ended without releasing), and c, d waiting, d ended
    tokens, clock = Tokens(), Clock()
    for name in ("a", "b", "c", "d"):
        acquire(name, table, tokens, clock)
    tokens.running = {"a", "c"}
    answered_before = len(tokens.answered)

    # WHEN the reconciler runs
    report = admission.reconcile(table=table, tokens=tokens, executions=tokens, limit=2, clock=clock)

    # THEN b's leaked slot is released and c admitted, d's stale entry is dropped, a's token re-sent
    assert report.released == ("b",)
    assert report.dispatched.granted == ("c",)
    assert sorted(table.holders()) == ["a", "c"]
    assert table.oldest_waiters(10) == []
    assert tokens.answered[answered_before:] == ["token-a", "token-c"]
    assert (report.held, report.waiting, report.waiting_complete) == (2, 0, True)


def test_reconcile_reports_the_queue_depth_and_the_oldest_wait(table: DynamoSlotTable) -> None:
    # GIVEN one slot held and three executions waiting, the first since 30 s
    tokens, clock = Tokens(), Clock()
    for name in ("a", "b", "c", "d"):
        acquire(name, table, tokens, clock, limit=1)
    tokens.running = {"a", "b", "c", "d"}
    clock.now += timedelta(seconds=30)

    # WHEN the reconciler runs
    report = admission.reconcile(table=table, tokens=tokens, executions=tokens, limit=1, clock=clock)

    # THEN it reports them
    assert (report.held, report.waiting) == (1, 3)
    assert 30 <= report.oldest_wait_seconds < 31


def test_many_acquires_and_releases_never_exceed_the_limit_and_leave_nothing(table: DynamoSlotTable) -> None:
    # GIVEN 3 slots and 20 executions that release as soon as they are resumed, in interleaved order
    tokens, clock = Tokens(), Clock()
    names = [f"e{i:02d}" for i in range(20)]
    peak = 0
    done: list[str] = []
    for name in names:
        acquire(name, table, tokens, clock, limit=3)
        peak = max(peak, len(table.holders()))
        if len(table.holders()) == 3:
            oldest = min(table.holders().values(), key=lambda h: h.acquired)
            admission.release(oldest.execution, table=table, tokens=tokens, limit=3, clock=clock)
            done.append(oldest.execution)
    while table.holders():
        holder = min(table.holders().values(), key=lambda h: h.acquired)
        admission.release(holder.execution, table=table, tokens=tokens, limit=3, clock=clock)
        done.append(holder.execution)
        peak = max(peak, len(table.holders()))

    # THEN every execution was admitted once, in arrival order, and no slot or waiter is left
    assert peak == 3
    assert tokens.answered == [f"token-{n}" for n in names]
    assert sorted(done) == names
    assert table.holders() == {} and table.oldest_waiters(10) == []


def test_admission_unavailable_when_the_table_is_missing(moto_aws: None) -> None:
    # GIVEN a slot table that does not exist
    from ocr_pipeline.errors import AdmissionUnavailable

    table = DynamoSlotTable(boto3.client("dynamodb"), "missing")

    # WHEN an execution asks for a slot THEN the error is the retryable AdmissionUnavailable
    with pytest.raises(AdmissionUnavailable):
        acquire("a", table, Tokens(), Clock())
