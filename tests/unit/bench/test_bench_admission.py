"""The admission-control model: throttling alone fails a burst, a callback semaphore does not."""

from __future__ import annotations

from bench.admission import BASE_TRANSITIONS, asl_throttle_retry, reserved, run, semaphore


def test_throttle_retrier_is_read_from_the_deployed_definition() -> None:
    # GIVEN / WHEN the ASL's Lambda.TooManyRequestsException retrier is read / THEN it is the 2 s x2 ladder
    retry = asl_throttle_retry()
    assert (retry.interval, retry.backoff, retry.max_delay, retry.attempts) == (2.0, 2.0, 60.0, 6)


def test_reserved_concurrency_alone_fails_most_of_a_large_drop() -> None:
    # GIVEN 1,000 objects and 5 slots / WHEN only the ASL's throttle retries hold them back
    outcome = reserved(1000, 5, asl_throttle_retry())
    # THEN most images fail with the retries exhausted, while invocations never exceed the reservation
    assert outcome.failures > 500
    assert outcome.peak_in_flight <= 5


def test_callback_semaphore_admits_every_object_within_the_bound_at_two_extra_transitions() -> None:
    # GIVEN / WHEN 2,000 objects pass a 5-slot callback semaphore
    outcome = semaphore(2000, 5, poll_seconds=None)
    # THEN none fails, at most 5 hold a slot, and each image pays the acquire and release states only
    assert (outcome.failures, outcome.peak_in_flight) == (0, 5)
    assert outcome.transitions_per_image == BASE_TRANSITIONS + 2


def test_polling_semaphore_pays_transitions_for_every_try_while_it_waits() -> None:
    # GIVEN / WHEN the same drop waits on a semaphore polled every 5 s
    outcome = semaphore(2000, 5, poll_seconds=5.0)
    # THEN it never fails, but the transitions per image grow far beyond twice the no-burst figure
    assert outcome.failures == 0
    assert outcome.transitions_per_image > 2 * BASE_TRANSITIONS


def test_only_the_callback_semaphore_meets_the_goals_for_10000_objects() -> None:
    # GIVEN / WHEN the modelled 10,000-object drop with ApiConcurrency 5
    rows = {row["strategy"]: row for row in run(10_000, 5)["strategies"]}
    # THEN exactly the callback design meets 0 failures, in-flight <= 5 and <= 2x transitions
    assert [name for name, row in rows.items() if row["meets_goals"]] == ["callback"]
