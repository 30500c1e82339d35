"""Reads what a `repairgpt backup` command reported from its pod's termination message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from repairgpt_contract import error_from_log, read_result
from repairgpt_operator.backup.jobs import JOB_NAME_LABEL

JOB_NAME_LABELS = (JOB_NAME_LABEL, "job-name")


def _terminations(pods: Iterable[Mapping[str, Any]], job_name: str) -> list[dict[str, Any]]:
    """(container name, terminated state) of the containers that ended in the Job's pods."""
    ended = []
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if not any(labels.get(label) == job_name for label in JOB_NAME_LABELS):
            continue
        status = pod.get("status") or {}
        for item in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            terminated = (item.get("state") or {}).get("terminated")
            if terminated:
                ended.append({"container": item.get("name"), **terminated})
    return ended


def pod_error(pods: Iterable[Mapping[str, Any]], job_name: str) -> str | None:
    """The backup command's own error line from a failed container's termination message (the
    tail of its log, thanks to terminationMessagePolicy FallbackToLogsOnError)."""
    for ended in _terminations(pods, job_name):
        if int(ended.get("exitCode") or 0) == 0:
            continue
        error = error_from_log(str(ended.get("message") or ""))
        if error is not None:
            return error
    return None


def pod_result(
    pods: Iterable[Mapping[str, Any]],
    job_name: str,
    *,
    container: str = "backup",
    succeeded_only: bool = True,
) -> Mapping[str, Any] | None:
    """The JSON object a container wrote to its termination message with --result-file (for the
    backup container: where the dump went and its size)."""
    for ended in _terminations(pods, job_name):
        if ended.get("container") != container:
            continue
        if succeeded_only and int(ended.get("exitCode") or 0) != 0:
            continue
        return read_result(str(ended.get("message") or ""))
    return None
