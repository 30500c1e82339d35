"""On-demand backups: the annotation that asks for one and the token a new Job is started for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repairgpt_operator.annotations import annotation

BACKUP_NOW_ANNOTATION = "repairgpt.io/backup-now"


def requested_token(body: Mapping[str, Any]) -> str | None:
    """The backup-now token annotated on the instance, if any."""
    return annotation(body, BACKUP_NOW_ANNOTATION)


def wants_manual_job(body: Mapping[str, Any]) -> str | None:
    """The token to start a Job for: annotated and not yet echoed in the status."""
    token = requested_token(body)
    if token is None:
        return None
    done = ((body.get("status") or {}).get("backup") or {}).get("lastManualToken")
    return None if token == done else token
