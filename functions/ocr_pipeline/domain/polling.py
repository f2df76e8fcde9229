"""When to ask for a task's result: right after submitting (in-Lambda) and in the Wait → Check loop."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ocr_pipeline.domain.models import Stage

RECOGNITION_COST_FACTOR = 2.0
"""Without its own rate, recognition is expected to take this many times a preprocessing stage."""


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Expected task time, then waits in whole seconds (what a Wait state's ``SecondsPath`` accepts).

    The expected job time is ``first_wait + rate x MP``, the rate being ``seconds_per_megapixel`` for a
    preprocessing stage and ``recognition_seconds_per_megapixel`` for recognition (measured: see
    ``bench/polling.py``): the first result request is made then, so a typical task is ``Completed`` at
    its first GET. Each further wait
    grows by ``backoff_rate``; every wait is capped by ``max_wait``; at most ``max_polls`` result
    requests are made per task by the Wait loop.
    """

    first_wait: float
    seconds_per_megapixel: float
    max_wait: int
    backoff_rate: float
    max_polls: int
    recognition_seconds_per_megapixel: float | None = None

    def expected_seconds(self, megapixels: float, stage: Stage) -> float:
        """How long a task of ``stage`` on an image of ``megapixels`` is expected to run."""
        rate = self.seconds_per_megapixel
        if stage is Stage.RECOGNIZE:
            own = self.recognition_seconds_per_megapixel
            rate = own if own is not None else self.seconds_per_megapixel * RECOGNITION_COST_FACTOR
        return self.first_wait + rate * max(megapixels, 0.0)

    def initial_wait(self, megapixels: float, stage: Stage) -> int:
        """Whole seconds to wait before the Wait loop's first result request."""
        return min(self.max_wait, max(1, math.ceil(self.expected_seconds(megapixels, stage))))

    def next_wait(self, previous: int) -> int:
        """Seconds to wait after a check that found the task still running."""
        return min(self.max_wait, max(1, math.ceil(previous * self.backoff_rate)))

    def has_polls_left(self, polls_done: int) -> bool:
        """Whether another status check is allowed after ``polls_done`` checks."""
        return polls_done < self.max_polls


@dataclass(frozen=True, slots=True)
class InLambdaPoll:
    """Right after a POST, the submitting function may wait for the task itself.

    Only when the expected time fits the budget: it sleeps until then, asks once, and (while budget is
    left) again every ``interval``. A task still running at the deadline goes on to the Wait loop.
    """

    budget_seconds: float
    interval_seconds: float

    def applies(self, expected_seconds: float) -> bool:
        """Whether a task expected to take this long is waited for inside the function."""
        return self.budget_seconds > 0 and expected_seconds <= self.budget_seconds
