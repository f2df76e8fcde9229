"""Runtime-adjustable fault injection with an optionally seeded random source."""

from __future__ import annotations

import random
import threading

from ocr_service.config import FaultSettings


class FaultInjector:
    """Thread-safe holder of `FaultSettings` that draws the injected faults."""

    def __init__(self, settings: FaultSettings) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._rng = random.Random(settings.seed)

    @property
    def settings(self) -> FaultSettings:
        with self._lock:
            return self._settings

    def update(self, settings: FaultSettings) -> None:
        """Replace the settings; a new seed restarts the random sequence."""
        with self._lock:
            self._settings = settings
            self._rng = random.Random(settings.seed)

    def _draw(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def request_fault(self) -> int | None:
        """HTTP status to answer an API request with instead of serving it (429, 503), or None."""
        settings = self.settings
        if self._draw(settings.rate_429):
            return 429
        if self._draw(settings.rate_5xx):
            return 503
        return None

    def task_error(self) -> bool:
        return self._draw(self.settings.error_rate)

    def result_lost(self) -> bool:
        return self._draw(self.settings.lost_rate)

    def delay_seconds(self) -> float:
        return self.settings.delay_seconds
