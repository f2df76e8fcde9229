"""Admission control for a burst, modelled from the template's limits: `python -m bench.admission`.

A drop of N objects with `ApiConcurrency` C. Each image runs three tasks on the API-calling functions
(Validate image, Submit binarization, Submit recognition; jobs finish inside the task) with durations
drawn from the measured ranges; event by event, seeded, three admission strategies are compared:

- ``reserved``: the template before admission control. A task finding C invocations busy is throttled
  and retried by the ASL's own `Lambda.TooManyRequestsException` retrier (read from
  `infra/ocr_pipeline.asl.json`: 2 s, x2, 60 s cap, FULL jitter, 6 attempts); after the last one the
  image fails.
- ``polling``: AWS's Step Functions DynamoDB semaphore sample: acquire with a conditional UpdateItem;
  when full, Wait `poll_seconds` and try again (2 transitions per try); release at the end.
- ``callback`` (what the template builds): the same semaphore, but the acquire state itself parks the
  execution on `.waitForTaskToken` (no transition beyond the state's own, however long it waits) and
  each release hands its slot to the oldest waiting token.

Reported per strategy: failures, peak images holding an API slot, transitions per image (retries are
billed transitions), drain time and the longest admission wait.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import Parser

ASL = Path(__file__).resolve().parents[1] / "infra" / "ocr_pipeline.asl.json"
BASE_TRANSITIONS = 7
"""Validate image, Choose first stage, Submit binarization, Binarization done?, Submit recognition,
Recognition done?, Done: the no-burst path when both jobs finish inside their tasks."""
TASK_SECONDS = ((0.05, 0.15), (0.4, 0.9), (1.0, 2.2))
"""Validate image, Submit binarization, Submit recognition (in-Lambda wait included), seconds."""
SEMAPHORE_TRANSITIONS = 2
"""Acquire and release states of either semaphore."""


@dataclass(frozen=True)
class Retry:
    """A Step Functions retrier."""

    interval: float
    backoff: float
    max_delay: float
    attempts: int

    def delay(self, attempt: int, rng: random.Random) -> float:
        """FULL jitter: uniform over [0, capped exponential]."""
        return rng.uniform(0, min(self.max_delay, self.interval * self.backoff**attempt))


def asl_throttle_retry(path: Path = ASL) -> Retry:
    """The retrier of `Lambda.TooManyRequestsException` on the first API-calling task of the ASL."""
    text = re.sub(r"\$\{[A-Za-z0-9_]+\}", "1", path.read_text(encoding="utf-8"))
    states = json.loads(text)["States"]
    for state in states.values():
        for retrier in state.get("Retry", []):
            if "Lambda.TooManyRequestsException" in retrier["ErrorEquals"]:
                return Retry(
                    interval=float(retrier.get("IntervalSeconds", 1)),
                    backoff=float(retrier.get("BackoffRate", 2.0)),
                    max_delay=float(retrier.get("MaxDelaySeconds", 3600)),
                    attempts=int(retrier.get("MaxAttempts", 3)),
                )
    raise ValueError(f"{path}: no retrier of Lambda.TooManyRequestsException")


@dataclass
class Outcome:
    """What one strategy did with the burst."""

    strategy: str
    objects: int
    concurrency: int
    failures: int
    peak_in_flight: int
    transitions_per_image: float
    drain_seconds: float
    max_admission_wait_seconds: float


def _durations(rng: random.Random) -> list[float]:
    return [rng.uniform(low, high) for low, high in TASK_SECONDS]


def reserved(objects: int, concurrency: int, retry: Retry, seed: int = 1) -> Outcome:
    """Reserved concurrency alone: throttled tasks retried by the ASL, failing after the last retry."""
    rng = random.Random(seed)
    # (time, image, task index, retry attempt)
    events: list[tuple[float, int, int, int]] = [(0.0, i, 0, 0) for i in range(objects)]
    heapq.heapify(events)
    durations = {i: _durations(rng) for i in range(objects)}
    busy: list[float] = []  # end times of running invocations
    transitions = failures = peak = 0
    end = 0.0
    while events:
        now, image, task, attempt = heapq.heappop(events)
        while busy and busy[0] <= now:
            heapq.heappop(busy)
        if len(busy) >= concurrency:
            if attempt >= retry.attempts:
                failures += 1
                transitions += 2  # Record failure, Failed
                continue
            transitions += 1  # a retry is a billed transition
            heapq.heappush(events, (now + retry.delay(attempt, rng), image, task, attempt + 1))
            continue
        finish = now + durations[image][task]
        heapq.heappush(busy, finish)
        peak = max(peak, len(busy))
        if task + 1 < len(TASK_SECONDS):
            heapq.heappush(events, (finish, image, task + 1, 0))
        else:
            end = max(end, finish)
    transitions += BASE_TRANSITIONS * objects
    return Outcome("reserved", objects, concurrency, failures, peak, transitions / objects, end, 0.0)


def semaphore(objects: int, concurrency: int, *, poll_seconds: float | None, seed: int = 1) -> Outcome:
    """A semaphore of `concurrency` slots held for the whole image: polled (`poll_seconds`) or callback."""
    rng = random.Random(seed)
    work = [sum(_durations(rng)) for _ in range(objects)]
    holders: list[float] = []  # release times
    transitions = BASE_TRANSITIONS * objects + SEMAPHORE_TRANSITIONS * objects
    longest = end = 0.0
    peak = 0
    now = 0.0
    for image in range(objects):  # FIFO for callback; polling admits at its next try after a release
        while len(holders) >= concurrency:
            released = heapq.heappop(holders)
            if poll_seconds is None:
                now = max(now, released)
            else:  # every waiting image tries again at multiples of poll_seconds after the drop
                now = max(now, math.ceil(released / poll_seconds) * poll_seconds)
        if poll_seconds is not None:
            transitions += 2 * int(now // poll_seconds) if now > 0 else 0
        longest = max(longest, now)
        heapq.heappush(holders, now + work[image])
        peak = max(peak, len(holders))
        end = max(end, now + work[image])
    name = "callback" if poll_seconds is None else f"polling {poll_seconds:g} s"
    return Outcome(name, objects, concurrency, 0, peak, transitions / objects, end, longest)


def run(objects: int = 10_000, concurrency: int = 5) -> dict[str, object]:
    """Every strategy on one drop, and whether each meets the goals."""
    outcomes = [
        reserved(objects, concurrency, asl_throttle_retry()),
        semaphore(objects, concurrency, poll_seconds=5.0),
        semaphore(objects, concurrency, poll_seconds=60.0),
        semaphore(objects, concurrency, poll_seconds=None),
    ]
    limit = 2 * BASE_TRANSITIONS
    rows = []
    for outcome in outcomes:
        meets = (
            outcome.failures == 0
            and outcome.peak_in_flight <= concurrency
            and outcome.transitions_per_image <= limit
        )
        rows.append({**asdict(outcome), "meets_goals": meets})
    return {"base_transitions": BASE_TRANSITIONS, "transitions_limit": limit, "strategies": rows}


def main(argv: list[str] | None = None) -> int:
    """Print the model's table as JSON."""
    parser = Parser(prog="python -m bench.admission")
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.objects, args.concurrency), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
