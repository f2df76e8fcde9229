"""Admission control: at most ``limit`` executions hold an OCR API slot; the others wait, in arrival order.

An execution asks for a slot in its first state (``Acquire slot``, a ``.waitForTaskToken`` task) and
waits, without state transitions, until its task token is answered. Whoever frees a slot, or adds a
waiter, then *dispatches*: hands free slots to the oldest waiters, one conditional write each, and
answers their tokens. Slots are released on every exit path (``Release slot`` after the last stage,
the failure recorder on a caught error, a timed-out or an aborted execution), and the scheduled
reconciler releases any slot whose execution is no longer running, so a leaked slot lives at most one
reconciler period. Every loop here is bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from ocr_pipeline.domain.ports import Clock

DISPATCH_BATCH = 25
"""Waiters read per query while dispatching."""


@dataclass(frozen=True, slots=True)
class Waiter:
    """An execution waiting for a slot: its arrival position and the task token that resumes it."""

    arrival: str
    execution: str
    execution_arn: str
    token: str


@dataclass(frozen=True, slots=True)
class Holder:
    """An execution holding a slot."""

    execution: str
    execution_arn: str
    token: str
    acquired: datetime


class Grant(StrEnum):
    """Outcome of one attempt to give a waiter a slot."""

    GRANTED = "granted"
    FULL = "full"
    TAKEN = "taken"
    """Another dispatcher took this waiter (or the slot table changed under us): read again."""


class SlotTable(Protocol):
    """The durable slot table (one item of holders, one item per waiter)."""

    def enqueue(self, waiter: Waiter) -> None:
        """Add a waiter (idempotent on its arrival key)."""
        ...

    def oldest_waiters(self, count: int) -> list[Waiter]:
        """Up to ``count`` waiters, oldest first, strongly consistent."""
        ...

    def holders(self) -> dict[str, Holder]:
        """Current holders by execution name, strongly consistent."""
        ...

    def grant(self, waiter: Waiter, *, limit: int, now: datetime) -> Grant:
        """Atomically: add the waiter's execution to the holders if fewer than ``limit`` hold one and it
        holds none yet, and remove the waiter."""
        ...

    def release(self, execution: str) -> bool:
        """Remove ``execution`` from the holders; ``False`` if it held none."""
        ...

    def drop_waiters(self, waiters: Iterable[Waiter]) -> None:
        """Remove waiters whose executions have ended."""
        ...

    def waiting_count(self, *, max_pages: int) -> tuple[int, bool]:
        """How many waiters (counted over at most ``max_pages`` pages) and whether that is all of them."""
        ...


class TaskTokens(Protocol):
    """Resumes executions waiting on a task token."""

    def resume(self, token: str) -> bool:
        """Answer the token; ``False`` when its task no longer waits (execution ended, token expired)."""
        ...


class Executions(Protocol):
    """Asks the workflow engine whether an execution still runs."""

    def is_running(self, execution_arn: str) -> bool:
        """``True`` if the execution exists and is RUNNING."""
        ...


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What one dispatch did."""

    granted: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    """Executions granted a slot whose token no longer waited: the slot was released again."""


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one reconciler run found and did."""

    held: int
    released: tuple[str, ...]
    resumed: int
    waiting: int
    waiting_complete: bool
    oldest_wait_seconds: float
    dispatched: Dispatched


def arrival_key(now: datetime, execution: str) -> str:
    """A key that sorts waiters by arrival (UTC microseconds), unique per execution."""
    return f"{now.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{execution}"


def arrival_time(arrival: str) -> datetime:
    """The time part of an arrival key."""
    return datetime.strptime(arrival.partition("#")[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def acquire(
    execution: str,
    execution_arn: str,
    token: str,
    *,
    table: SlotTable,
    tokens: TaskTokens,
    limit: int,
    clock: Clock,
) -> Dispatched:
    """Queue the execution for a slot, then dispatch (which resumes it at once if a slot is free)."""
    table.enqueue(Waiter(arrival_key(clock(), execution), execution, execution_arn, token))
    return dispatch(table=table, tokens=tokens, limit=limit, clock=clock)


def release(
    execution: str, *, table: SlotTable, tokens: TaskTokens, limit: int, clock: Clock
) -> tuple[bool, Dispatched]:
    """Give the execution's slot back (no error if it held none) and hand free slots to waiters."""
    released = table.release(execution)
    return released, dispatch(table=table, tokens=tokens, limit=limit, clock=clock)


def dispatch(*, table: SlotTable, tokens: TaskTokens, limit: int, clock: Clock) -> Dispatched:
    """Hand free slots to the oldest waiters until the slots are full or nobody waits.

    Bounded: at most ``limit`` grants plus ``limit + DISPATCH_BATCH`` stale or lost races per call; what
    is left is picked up by the next acquire, release or reconciler run.
    """
    granted: list[str] = []
    stale: list[str] = []
    budget = 2 * limit + DISPATCH_BATCH
    while budget > 0:
        holders = table.holders()
        free = limit - len(holders)
        if free <= 0:
            break
        # One waiter more than the free slots, in case another dispatcher takes one of them.
        waiters = table.oldest_waiters(min(DISPATCH_BATCH, free + 1))
        if not waiters:
            break
        for waiter in waiters:
            if free <= 0:
                break
            budget -= 1
            if waiter.execution in holders:
                # A retried Acquire of an execution already admitted: answer this token too, keep one slot.
                table.drop_waiters([waiter])
                tokens.resume(waiter.token)
                continue
            outcome = table.grant(waiter, limit=limit, now=clock())
            if outcome is Grant.FULL:
                budget = 0 if len(table.holders()) >= limit else budget
                break
            if outcome is Grant.TAKEN:
                continue
            if tokens.resume(waiter.token):
                granted.append(waiter.execution)
                free -= 1
            else:
                # Its execution ended (or retried Acquire with a new token, still queued): free the slot.
                table.release(waiter.execution)
                stale.append(waiter.execution)
            if budget <= 0:
                break
        if free <= 0:
            # Every slot seen free is granted. One freed since then is dispatched by whoever freed it
            # (a release dispatches after it), so neither a grant bound to fail nor a re-read is needed.
            break
    return Dispatched(granted=tuple(granted), stale=tuple(stale))


def reconcile(
    *,
    table: SlotTable,
    tokens: TaskTokens,
    executions: Executions,
    limit: int,
    clock: Clock,
    max_count_pages: int = 20,
) -> Reconciled:
    """Release slots of executions that no longer run, re-answer the tokens of running holders (a grant
    whose answer was lost), drop waiters of ended executions at the head of the queue, and dispatch."""
    released: list[str] = []
    resumed = 0
    for name, holder in table.holders().items():
        if executions.is_running(holder.execution_arn):
            # A token already answered is refused; one whose answer was lost resumes its execution.
            resumed += tokens.resume(holder.token)
        elif table.release(name):
            released.append(name)
    head = table.oldest_waiters(DISPATCH_BATCH)
    table.drop_waiters(w for w in head if not executions.is_running(w.execution_arn))
    dispatched = dispatch(table=table, tokens=tokens, limit=limit, clock=clock)
    waiting, complete = table.waiting_count(max_pages=max_count_pages)
    oldest = table.oldest_waiters(1)
    now = clock()
    age = (now - arrival_time(oldest[0].arrival)).total_seconds() if oldest else 0.0
    return Reconciled(
        held=len(table.holders()),
        released=tuple(released),
        resumed=resumed,
        waiting=waiting,
        waiting_complete=complete,
        oldest_wait_seconds=max(age, 0.0),
        dispatched=dispatched,
    )
