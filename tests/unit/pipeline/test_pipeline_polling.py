"""The adaptive poll schedule."""

from __future__ import annotations

from ocr_pipeline.domain.polling import PollSchedule, Stage

SCHEDULE = PollSchedule(first_wait=2, seconds_per_megapixel=1.0, max_wait=30, backoff_rate=1.5, max_polls=5)


def test_initial_wait_grows_with_megapixels() -> None:
    # GIVEN / WHEN a small and a large image are scheduled / THEN the larger waits longer
    assert SCHEDULE.initial_wait(0.5, Stage.BINARIZE) == 3
    assert SCHEDULE.initial_wait(8.0, Stage.BINARIZE) == 10


def test_initial_wait_recognition_expects_longer_job() -> None:
    # GIVEN the same image / WHEN recognition is scheduled / THEN it waits longer than binarization
    assert SCHEDULE.initial_wait(4.0, Stage.RECOGNIZE) > SCHEDULE.initial_wait(4.0, Stage.BINARIZE)


def test_initial_wait_huge_image_is_capped() -> None:
    # GIVEN / WHEN a huge image is scheduled / THEN the cap applies
    assert SCHEDULE.initial_wait(500.0, Stage.RECOGNIZE) == 30


def test_next_wait_backs_off_until_cap() -> None:
    # GIVEN a first wait of 2 s / WHEN the task keeps running
    waits = [2]
    for _ in range(8):
        waits.append(SCHEDULE.next_wait(waits[-1]))
    # THEN waits grow by about 1.5x and stop at the cap
    assert waits == [2, 3, 5, 8, 12, 18, 27, 30, 30]


def test_next_wait_zero_first_wait_still_advances() -> None:
    # GIVEN a zero first wait (local runs) / WHEN backed off / THEN the loop never spins at 0 s
    assert SCHEDULE.next_wait(0) == 1


def test_has_polls_left_stops_at_max_polls() -> None:
    # GIVEN max_polls = 5 / WHEN 4 and 5 polls are done / THEN one more is allowed only after 4
    assert SCHEDULE.has_polls_left(4)
    assert not SCHEDULE.has_polls_left(5)
