"""The status tells the user how far the instance is, from what the Deployment reports."""

from __future__ import annotations

from typing import Any

import pytest

from repairgpt_operator.backup.jobs import BackupObservation, JobsObservation
from repairgpt_operator.conditions import find_condition
from repairgpt_operator.instance.observed import compute_status, status_patch, upload_storage_events
from tests.operator.factories import example_instance, make_instance


def _deployment(
    wanted: int, ready: int, *, generation: int = 1, observed: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": wanted},
        "status": {
            "observedGeneration": observed,
            "replicas": wanted,
            "readyReplicas": ready,
            "updatedReplicas": wanted,
        },
    }


def test_all_pods_ready_means_running_and_ready() -> None:
    status = compute_status(
        make_instance(generation=4), previous={}, deployment=_deployment(2, 2), now="T"
    )
    assert status["phase"] == "Running"
    assert status["observedGeneration"] == 4
    assert (status["replicas"], status["readyReplicas"]) == (2, 2)
    ready = find_condition(status["conditions"], "Ready")
    assert ready is not None and ready["status"] == "True" and ready["observedGeneration"] == 4
    reconciled = find_condition(status["conditions"], "Reconciled")
    assert reconciled is not None and reconciled["status"] == "True"


def test_pending_pods_mean_progressing() -> None:
    status = compute_status(make_instance(), previous={}, deployment=_deployment(2, 0), now="T")
    assert status["phase"] == "Progressing"
    ready = find_condition(status["conditions"], "Ready")
    assert ready is not None and ready["status"] == "False"
    assert ready["message"] == "0/2 API pods are ready"


def test_an_old_rollout_is_not_ready() -> None:
    deployment = _deployment(2, 2, generation=3, observed=2)
    status = compute_status(make_instance(), previous={}, deployment=deployment, now="T")
    assert status["phase"] == "Progressing"


def test_a_refused_apply_means_degraded_with_the_servers_message() -> None:
    message = 'Deployment.apps "x-api" is invalid: spec.template.spec.containers[0].image: Required'
    status = compute_status(make_instance(), previous={}, deployment=None, now="T", error=message)
    assert status["phase"] == "Degraded"
    reconciled = find_condition(status["conditions"], "Reconciled")
    assert reconciled is not None
    assert (reconciled["status"], reconciled["reason"]) == ("False", "ApplyFailed")
    assert reconciled["message"] == message


def test_a_deployment_refresh_keeps_the_last_reconcile_verdict() -> None:
    failed = compute_status(make_instance(), previous={}, deployment=None, now="T", error="boom")
    refreshed = compute_status(
        make_instance(generation=2),
        previous=failed,
        deployment=_deployment(1, 1),
        now="T2",
        children_synced=False,
    )
    assert "observedGeneration" not in refreshed
    reconciled = find_condition(refreshed["conditions"], "Reconciled")
    assert reconciled is not None and reconciled["status"] == "False"
    assert refreshed["phase"] == "Degraded"


def test_maintenance_condition_wins_the_phase() -> None:
    previous = {
        "conditions": [{"type": "Maintenance", "status": "True", "lastTransitionTime": "T"}]
    }
    status = compute_status(
        make_instance(), previous=previous, deployment=_deployment(0, 0), now="T"
    )
    assert status["phase"] == "Maintenance"


def test_recomputing_an_unchanged_status_writes_nothing() -> None:
    instance = make_instance()
    first = compute_status(instance, previous={}, deployment=_deployment(2, 2), now="T1")
    second = compute_status(instance, previous=first, deployment=_deployment(2, 2), now="T2")
    assert status_patch(first, second) == {}


def test_status_patch_holds_only_changed_fields() -> None:
    instance = make_instance()
    first = compute_status(instance, previous={}, deployment=_deployment(2, 1), now="T1")
    second = compute_status(instance, previous=first, deployment=_deployment(2, 2), now="T2")
    patch = status_patch(first, second)
    assert set(patch) == {"phase", "conditions", "readyReplicas"}


def test_selector_is_published_for_the_scale_subresource() -> None:
    status = compute_status(make_instance(name="shop"), previous={}, deployment=None, now="T")
    assert status["selector"] == (
        "app.kubernetes.io/name=repairgpt,app.kubernetes.io/instance=shop,"
        "app.kubernetes.io/component=api"
    )


def _backup_spec(verify: bool) -> dict[str, Any]:
    return {
        "backup": {
            "enabled": True,
            "s3": {"bucket": "shop-backups"},
            "verify": {"enabled": verify},
        }
    }


def test_verification_outcome_joins_status_backup_and_sets_backup_verified() -> None:
    verified = JobsObservation(
        jobs=(
            {
                "metadata": {"name": "shop-verify-1"},
                "status": {
                    "startTime": "2026-11-28T03:30:00Z",
                    "completionTime": "2026-11-28T03:35:00Z",
                    "conditions": [
                        {"type": "Complete", "status": "True",
                         "lastTransitionTime": "2026-11-28T03:35:00Z"}
                    ],
                },
            },
        )
    )  # fmt: skip
    observed = BackupObservation(verify=verified)
    previous = {"backup": {"lastSuccessfulTime": "2026-11-28T03:05:00Z"}}
    status = compute_status(
        make_instance(_backup_spec(verify=True)),
        previous=previous,
        deployment=None,
        now="2026-11-28T04:00:00Z",
        backup=observed,
    )
    assert status["backup"]["lastVerifiedTime"] == "2026-11-28T03:35:00Z"
    assert status["backup"]["lastSuccessfulTime"] == "2026-11-28T03:05:00Z"
    condition = find_condition(status["conditions"], "BackupVerified")
    assert condition is not None and condition["status"] == "True"

    # Verification switched off: its verdict goes, so that nothing stale keeps alerting.
    off = compute_status(
        make_instance(_backup_spec(verify=False)),
        previous=status,
        deployment=None,
        now="2026-11-28T04:01:00Z",
        backup=BackupObservation(),
    )
    assert find_condition(off["conditions"], "BackupVerified") is None
    assert "lastVerifiedTime" not in off["backup"]


def _pod(name: str, *, ready: bool = False, **status: Any) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": {"name": name}, "status": {"conditions": conditions, **status}}


def _waiting(waiting: str, message: str = "", **last: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"state": {"waiting": {"reason": waiting, "message": message}}}
    if last:
        container["lastState"] = {"terminated": last}
    return {"containerStatuses": [container]}


def test_the_ready_condition_says_why_each_pod_is_not_ready() -> None:
    pods = [
        _pod("api-b", **_waiting("CrashLoopBackOff", "back-off 40s", exitCode=1, reason="Error")),
        _pod("api-a", containerStatuses=[{"state": {"running": {}}, "started": True}]),
        _pod("api-c", ready=True, containerStatuses=[{"state": {"running": {}}}]),
    ]
    status = compute_status(
        make_instance(), previous={}, deployment=_deployment(3, 1), now="T", pods=pods
    )
    ready = find_condition(status["conditions"], "Ready")
    assert ready is not None
    assert ready["message"] == (
        "1/3 API pods are ready (api-a: running, but /ready fails: the database is unreachable "
        "or not migrated; api-b: restarting (last exit code 1, Error))"
    )
    # The kubelet's growing back-off, and the moments the container runs between two crashes,
    # are left out: the next resyncs write nothing new.
    between_crashes = {
        "state": {"running": {}},
        "started": False,
        "restartCount": 4,
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
    }
    for api_b in (
        _pod("api-b", **_waiting("CrashLoopBackOff", "back-off 5m0s", exitCode=1, reason="Error")),
        _pod("api-b", containerStatuses=[between_crashes]),
    ):
        again = compute_status(
            make_instance(),
            previous=status,
            deployment=_deployment(3, 1),
            now="T",
            pods=[api_b, *pods[1:]],
        )
        assert status_patch(status, again) == {}


def test_a_missing_secret_and_an_unschedulable_pod_are_named() -> None:
    missing = _pod("api-x", **_waiting("CreateContainerConfigError", 'secret "db" not found'))
    unscheduled = _pod(
        "api-y",
        conditions=[
            {"type": "PodScheduled", "status": "False", "message": "0/1 nodes: Insufficient cpu"}
        ],
    )
    status = compute_status(
        make_instance(), previous={}, deployment=_deployment(2, 0), now="T",
        pods=[missing, unscheduled],
    )  # fmt: skip
    ready = find_condition(status["conditions"], "Ready")
    assert ready is not None
    message = ready["message"]
    assert 'api-x: CreateContainerConfigError: secret "db" not found' in message
    assert "api-y: not scheduled: 0/1 nodes: Insufficient cpu" in message


def _upload_storage(spec: dict[str, Any]) -> dict[str, Any]:
    status = compute_status(make_instance(spec), previous={}, deployment=_deployment(2, 2), now="T")
    condition = find_condition(status["conditions"], "UploadStorage")
    assert condition is not None
    return {**condition, "phase": status["phase"]}


def test_several_replicas_without_s3_warn_that_uploads_are_lost_and_not_shared() -> None:
    condition = _upload_storage({"replicas": 2})
    assert (condition["status"], condition["reason"]) == ("False", "EmptyDirWithReplicas")
    assert "spec.storage.s3" in condition["message"]
    assert "rollout" in condition["message"]
    # A warning, not an outage: the pods serve.
    assert condition["phase"] == "Running"


def test_an_autoscaler_that_may_add_pods_warns_too() -> None:
    spec = {"replicas": 1, "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 3}}
    condition = _upload_storage(spec)
    assert condition["status"] == "False"
    assert "up to 3 API pods" in condition["message"]


def test_uploads_in_s3_or_a_single_pod_raise_no_warning() -> None:
    shared = _upload_storage({"replicas": 4, "storage": {"s3": {"bucket": "shop-uploads"}}})
    assert (shared["status"], shared["reason"]) == ("True", "S3")
    single = _upload_storage({"replicas": 1})
    assert (single["status"], single["reason"]) == ("True", "EmptyDirSingleReplica")


def test_the_upload_warning_is_an_event_once_and_its_end_too() -> None:
    risky = compute_status(
        make_instance({"replicas": 3}), previous={}, deployment=_deployment(3, 3), now="T1"
    )
    (warning,) = upload_storage_events([], risky["conditions"])
    assert (warning.type, warning.reason) == ("Warning", "EmptyDirWithReplicas")
    again = compute_status(
        make_instance({"replicas": 3}), previous=risky, deployment=_deployment(3, 3), now="T2"
    )
    assert upload_storage_events(risky["conditions"], again["conditions"]) == []
    fixed = compute_status(
        make_instance({"replicas": 3, "storage": {"s3": {"bucket": "shop-uploads"}}}),
        previous=again,
        deployment=_deployment(3, 3),
        now="T3",
    )
    (recovered,) = upload_storage_events(again["conditions"], fixed["conditions"])
    assert (recovered.type, recovered.reason) == ("Normal", "S3")
    single = compute_status(make_instance(), previous={}, deployment=_deployment(1, 1), now="T")
    assert upload_storage_events([], single["conditions"]) == []


@pytest.mark.parametrize("example", ["staging", "production"])
def test_the_examples_with_several_pods_keep_uploads_in_s3(example: str) -> None:
    status = compute_status(example_instance(example), previous={}, deployment=None, now="T")
    condition = find_condition(status["conditions"], "UploadStorage")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("True", "S3")
