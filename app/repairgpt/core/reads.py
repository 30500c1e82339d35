"""Where read-only requests get their database session: the primary, or the replica while the
primary cannot be reached.

The operator fails the API over to the replica only after its probes have failed a few times,
and the pods on the replica take a pod start to become ready. Until then the pods on the primary
would answer every database read with a 503. With a replica configured (`DATABASE_REPLICA_URL`),
a read that cannot connect to the primary is served from the replica instead, and the following
reads go there directly for `retry_seconds` before the primary is tried again. Writes always go
to the primary: while it is down they fail with a 503 problem, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from repairgpt.core.cooldown import Cooldown

log = logging.getLogger(__name__)

# How long reads stay on the replica after the primary failed to connect; then one read tries
# the primary again (and falls back at once if it is still down).
DEFAULT_RETRY_SECONDS = 5.0


class ReadRouter:
    """Opens sessions for read-only requests, connected before the handler runs, so that a
    primary that refuses connections costs the request a retry on the replica, not an error."""

    def __init__(
        self,
        primary: sessionmaker[Session],
        replica: sessionmaker[Session] | None = None,
        *,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replica = replica
        # Running while reads skip the primary.
        self.cooldown = Cooldown(retry_seconds, clock=clock)
        self._lock = threading.Lock()

    @property
    def on_replica(self) -> bool:
        """True while reads are sent to the replica without trying the primary first."""
        return self.replica is not None and self.cooldown.active

    def open(self) -> Session:
        """A session for reads; with a replica, already connected to a server that answered."""
        if self.replica is None:
            return self.primary()
        if not self.on_replica:
            session = self.primary()
            try:
                session.connection()  # checks out (and pings) a connection now
            except (OperationalError, InterfaceError) as exc:
                session.close()
                self._primary_unreachable(exc)
            else:
                return session
        return self.replica()

    def _primary_unreachable(self, exc: Exception) -> None:
        with self._lock:
            first = self.cooldown.failed()
        if first:
            log.warning(
                "primary database unreachable; reads go to the replica",
                extra={
                    "error": type(getattr(exc, "orig", exc)).__name__,
                    "retry_seconds": self.cooldown.seconds,
                },
            )
