"""The cool-down after a dependency fails: it is left alone for a while, then tried once again.

A dead or slow dependency (Redis, the embeddings endpoint, the primary database) then costs one
failed attempt per cool-down period, not one per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Cooldown:
    """Whether a dependency is being left alone after a failure, and for how much longer."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._until = 0.0

    @property
    def active(self) -> bool:
        """True until `seconds` have passed since the last failure."""
        return self._clock() < self._until

    def remaining(self) -> float:
        return max(self._until - self._clock(), 0.0)

    def failed(self) -> bool:
        """Start the cool-down again; True when none was running (the start of an outage)."""
        started = not self.active
        self._until = self._clock() + self.seconds
        return started

    def succeeded(self) -> None:
        self._until = 0.0
