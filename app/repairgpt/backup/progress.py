"""Progress of long transfers as periodic lines on stderr (readable in a Job's log, unlike bars)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from repairgpt_contract.progress import format_progress, format_progress_end

Clock = Callable[[], float]


class Progress:
    """Counts bytes of one transfer and prints a progress line (`LABEL: N MiB [of T], X MiB/s`)
    every interval."""

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        interval: float = 5.0,
        stream: TextIO | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._last_print = self.started
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.done += count
            now = self.clock()
            due = self.interval >= 0 and now - self._last_print >= self.interval
            if due:
                self._last_print = now
        if due:
            self._print(self.line())

    def rate(self) -> float:
        elapsed = max(self.clock() - self.started, 1e-9)
        return self.done / elapsed

    def line(self) -> str:
        return format_progress(self.label, self.done, total=self.total, rate=self.rate())

    def finish(self, note: str = "done") -> None:
        if self.interval >= 0:
            elapsed = self.clock() - self.started
            self._print(format_progress_end(self.line(), note, elapsed))

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
