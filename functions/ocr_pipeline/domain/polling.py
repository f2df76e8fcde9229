"""The adaptive wait schedule of the Wait → Check → Choice loop."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """Which OCR task the loop is waiting for."""

    BINARIZE = "binarize"
    RECOGNIZE = "recognize"


RECOGNITION_COST_FACTOR = 2.0
"""Recognition takes longer than binarization on the same pixels; its first wait is scaled by this."""


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Waits in whole seconds (what a Wait state's ``SecondsPath`` accepts).

    The first wait is the expected job time: ``first_wait + seconds_per_megapixel x MP`` (x a stage
    factor); each further wait grows by ``backoff_rate``; every wait is capped by ``max_wait``; at most
    ``max_polls`` status checks are made per task.
    """

    first_wait: int
    seconds_per_megapixel: float
    max_wait: int
    backoff_rate: float
    max_polls: int

    def initial_wait(self, megapixels: float, stage: Stage) -> int:
        """Seconds to wait before the first status check of a task on an image of ``megapixels``."""
        factor = RECOGNITION_COST_FACTOR if stage is Stage.RECOGNIZE else 1.0
        expected = self.first_wait + self.seconds_per_megapixel * max(megapixels, 0.0) * factor
        return min(self.max_wait, math.ceil(expected))

    def next_wait(self, previous: int) -> int:
        """Seconds to wait after a check that found the task still running."""
        return min(self.max_wait, max(1, math.ceil(previous * self.backoff_rate)))

    def has_polls_left(self, polls_done: int) -> bool:
        """Whether another status check is allowed after ``polls_done`` checks."""
        return polls_done < self.max_polls
