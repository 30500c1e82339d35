"""The Kubernetes Event value type (type, reason, message) and the one way to record Events."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from repairgpt_operator.kube import ApiError, Kube

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """An Event to record about an object: Normal or Warning, a CamelCase reason, a message."""

    type: str
    reason: str
    message: str


def post_events(kube: Kube, body: Mapping[str, Any], events: Iterable[Event]) -> None:
    """Record each Event on the object `body`; a refused Event is logged, never raised."""
    for event in events:
        try:
            kube.post_event(
                dict(body), type_=event.type, reason=event.reason, message=event.message
            )
        except ApiError as error:
            # An Event that cannot be recorded must not fail the work it reports on.
            log.warning("could not record event %s: %s", event.reason, error.message)
