"""`--wait`: poll until a request has finished, printing a line whenever its progress changes,
and fail with a sentence on failure or timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from repairgpt_operator.backup.jobs import finished_job
from repairgpt_operator.instance.model import Instance, InvalidSpec
from repairgpt_operator.plugin.client import Cluster, PluginError
from repairgpt_operator.resources.backup_job import manual_job_name

POLL_SECONDS = 2.0
# A progress line is repeated this often even when nothing changed, so a wait never looks hung.
HEARTBEAT_SECONDS = 30.0


@dataclass(frozen=True)
class Step:
    """One look at a request: `done` with a closing line, or still going with its progress."""

    progress: str
    done: bool = False
    failed: str | None = None


def wait(
    look: Callable[[], Step],
    *,
    what: str,
    timeout: float,
    out: TextIO,
    poll: float = POLL_SECONDS,
) -> str:
    """Call `look` until it is done; raise PluginError on failure or after `timeout` s."""
    started = time.monotonic()
    last, last_at = "", 0.0
    while True:
        step = look()
        elapsed = time.monotonic() - started
        if step.failed is not None:
            raise PluginError(f"{what} failed: {step.failed}")
        if step.done:
            return step.progress
        if step.progress != last or elapsed - last_at >= HEARTBEAT_SECONDS:
            print(f"[{elapsed:5.0f}s] {step.progress}", file=out, flush=True)
            last, last_at = step.progress, elapsed
        if elapsed >= timeout:
            raise PluginError(f"timed out after {timeout:.0f} s waiting for {what} ({last})")
        time.sleep(poll)


def _job_phase(job: dict[str, Any] | None) -> str:
    if job is None:
        return "waiting for the operator to start the Job"
    status = job.get("status") or {}
    if status.get("active"):
        return "running"
    return "pending" if not status.get("failed") else f"retrying ({status['failed']} failed)"


def backup_step(cluster: Cluster, name: str, token: str) -> Step:
    """The on-demand backup of `token`: its Job, then the outcome the status records."""
    body = cluster.instance(name)
    try:
        job_name = manual_job_name(Instance.from_body(body), token)
    except InvalidSpec as error:
        return Step("", failed=f"the instance spec is invalid: {error}")
    job = cluster.job(job_name)
    finished = finished_job(job) if job is not None else None
    backup = (body.get("status") or {}).get("backup") or {}
    if finished is None or backup.get("lastManualToken") != token:
        return Step(f"backup Job {job_name}: {_job_phase(job)}")
    if not finished.succeeded:
        return Step("", failed=str(backup.get("lastError") or finished.message or "Job failed"))
    location = backup.get("lastLocation") or "the backup bucket"
    return Step(f"backup Job {job_name} succeeded: {location}", done=True)


def restore_step(cluster: Cluster, name: str) -> Step:
    """A RepairGPTRestore, by its phase and message."""
    status = cluster.restore(name).get("status") or {}
    phase = status.get("phase") or "Pending"
    message = status.get("message") or ""
    if phase == "Failed":
        return Step("", failed=message or "the restore failed")
    if phase == "Succeeded":
        rows = status.get("restoredRows")
        tables = status.get("restoredTables")
        key = status.get("backupKey") or "the backup"
        return Step(f"restored {key}: {tables} tables, {rows} rows", done=True)
    return Step(f"{phase}: {message}" if message else phase)


def maintenance_step(cluster: Cluster, name: str, enabled: bool) -> Step:
    """Maintenance until status.maintenance.phase is On (or Off)."""
    status = cluster.instance(name).get("status") or {}
    phase = (status.get("maintenance") or {}).get("phase") or "Off"
    wanted = "On" if enabled else "Off"
    if phase == wanted:
        return Step(f"maintenance is {phase}", done=True)
    return Step(f"maintenance phase {phase}, waiting for {wanted}")
