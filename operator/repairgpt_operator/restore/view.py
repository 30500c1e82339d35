"""What a restore pass has seen (RestoreView) and decided (RestorePlan), and what follows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from repairgpt_operator.backup.spec import BackupS3
from repairgpt_operator.events import Event
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec import RepairGPTInstanceSpec
from repairgpt_operator.instance.spec_fields import DatabaseSecretRef
from repairgpt_operator.resources.restore_job import (
    RestoreRequest,
    RestoreStep,
)

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
T = TypeVar("T")
COMPLETE = "Complete"
FAILED = "Failed"


@dataclass(frozen=True)
class RestoreView:
    """What the operator saw around one restore."""

    restore: RestoreRequest
    status: Mapping[str, Any]
    instance: Instance | None
    instance_error: str | None = None  # the instance exists but its spec cannot be used
    api_pods: int = 0  # pods of the instance's API Deployment (status.replicas)
    job: Mapping[str, Any] | None = None  # the restore Job
    find_job: Mapping[str, Any] | None = None  # the Job that named the backup for `latest`
    backup_job: Mapping[str, Any] | None = None  # the backup taken before a clean restore
    pods: tuple[Mapping[str, Any], ...] = ()  # the pods of the restore's Jobs
    log_tail: str = ""  # the last lines of the running restore container's log


@dataclass(frozen=True)
class RestoreEvent(Event):
    """An Event to record about the restore (and, with `on_instance`, the instance too)."""

    on_instance: bool = False


@dataclass(frozen=True)
class RestorePlan:
    """What to do: the status to write, the hold to take or lift, which Job to start."""

    status: dict[str, Any]
    hold: Literal["take", "release"] | None = None
    start: RestoreStep | None = None
    events: list[RestoreEvent] = field(default_factory=list)

    @property
    def start_job(self) -> bool:
        """Whether the restore Job itself starts."""
        return self.start == "restore"

    @property
    def phase(self) -> Phase | None:
        phase = self.status.get("phase")
        return phase if phase in ("Pending", "Running", "Succeeded", "Failed") else None


def is_terminal(status: Mapping[str, Any]) -> bool:
    """Whether a restore has finished (either way)."""
    return status.get("phase") in TERMINAL


def source_of(view: RestoreView) -> BackupS3 | None:
    """The S3 location: the restore's own, else the instance's backup location."""
    return _own_else_instance(view.restore.spec.s3, view, lambda spec: spec.backup.s3)


def target_of(view: RestoreView) -> DatabaseSecretRef | None:
    """The database restored into: the restore's target, else the instance's primary."""
    return _own_else_instance(view.restore.spec.target, view, lambda spec: spec.database.primary)


def _own_else_instance(
    own: T | None, view: RestoreView, of_instance: Callable[[RepairGPTInstanceSpec], T | None]
) -> T | None:
    if own is not None:
        return own
    return of_instance(view.instance.spec) if view.instance is not None else None


def safety_backup_needed(restore: RestoreRequest) -> bool:
    """A clean restore into the instance's own database drops and recreates its tables: it is
    preceded by a backup of that database, and does not start without one."""
    return restore.spec.clean and restore.spec.target is None


def safety_backup_location(view: RestoreView) -> BackupS3 | None:
    """Where that backup goes: the instance's backup location, else where the restore reads."""
    if view.instance is not None and view.instance.spec.backup.s3 is not None:
        return view.instance.spec.backup.s3
    return source_of(view)


TERMINAL: tuple[Phase, ...] = ("Succeeded", "Failed")
