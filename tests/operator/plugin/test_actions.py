"""What the plugin's verbs write, and when they refuse, decided without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from repairgpt_operator.plugin import actions
from repairgpt_operator.plugin.client import PluginError
from repairgpt_operator.plugin.status import next_steps, render_status
from tests.operator.factories import instance_body

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def _with_status(spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    return instance_body(spec, status=status)


def test_maintenance_patch_is_the_documented_merge_patch() -> None:
    assert actions.maintenance_patch(True, "back at 14:00") == {
        "spec": {"maintenance": {"enabled": True, "message": "back at 14:00"}}
    }
    assert actions.maintenance_patch(False, None) == {"spec": {"maintenance": {"enabled": False}}}


def test_backup_now_needs_backups_enabled() -> None:
    with pytest.raises(PluginError, match="backups are not enabled on shop"):
        actions.backup_now_annotation(instance_body(), "t1")
    enabled = instance_body({"backup": {"enabled": True, "s3": {"bucket": "shop-backups"}}})
    assert actions.backup_now_annotation(enabled, "t1") == {"repairgpt.io/backup-now": "t1"}


def test_failback_only_while_failed_over() -> None:
    with pytest.raises(PluginError, match="shop is not failed over"):
        actions.failback_annotation(_with_status(database={"active": "primary"}))
    failed_over = _with_status(database={"active": "replica"})
    assert actions.failback_annotation(failed_over) == {"repairgpt.io/failback": "now"}


def test_rollback_goes_to_the_last_good_image_after_a_broken_rollout() -> None:
    body = _with_status(
        {"image": "app:3"},
        rollout={
            "lastGoodImage": "app:2",
            "history": [
                {"image": "app:2", "readyTime": "t2"},
                {"image": "app:1", "readyTime": "t1"},
            ],
        },
    )
    body["metadata"]["resourceVersion"] = "42"
    assert actions.rollback_patch(body) == (
        "app:2",
        {"spec": {"image": "app:2"}, "metadata": {"resourceVersion": "42"}},
    )


def test_rollback_of_a_good_image_goes_to_the_one_before_it() -> None:
    history = [{"image": "app:2", "readyTime": "t2"}, {"image": "app:1", "readyTime": "t1"}]
    body = _with_status({"image": "app:2"}, rollout={"lastGoodImage": "app:2", "history": history})
    assert actions.rollback_image(body) == "app:1"
    # The documented shorter spelling is read too.
    assert actions.rollback_image(_with_status({"image": "app:9"}, rollout={"lastGood": "app:8"}))


def test_rollback_without_an_earlier_image_refuses() -> None:
    with pytest.raises(PluginError, match="no earlier good image of shop"):
        actions.rollback_image(_with_status({"image": "app:1"}, rollout={"history": []}))
    with pytest.raises(PluginError):
        actions.rollback_image(instance_body())


def test_restore_manifest_names_the_instance_and_the_backup() -> None:
    manifest = actions.restore_manifest("shop", "latest", clean=True, now=NOW)
    assert manifest["kind"] == "RepairGPTRestore"
    assert manifest["metadata"]["name"] == "shop-restore-20261130-060000"
    assert manifest["spec"] == {"instanceName": "shop", "backup": "latest", "clean": True}


def test_status_fits_one_screen_and_names_what_to_do_next() -> None:
    body = _with_status(
        {"backup": {"enabled": True, "s3": {"bucket": "b"}}},
        phase="FailedOver",
        replicas=2,
        readyReplicas=1,
        database={"active": "replica", "consecutiveFailures": 4},
        maintenance={"phase": "Off"},
        backup={"lastSuccessfulTime": "2026-11-30T05:00:00Z", "lastLocation": "s3://b/k"},
        retention={"lastRunTime": "2026-11-30T04:16:00Z", "outcome": "Succeeded", "rowsDeleted": 7},
        conditions=[{"type": "Ready", "status": "False", "reason": "ReplicasNotReady"}],
    )
    events = [{"type": "Warning", "reason": "FailedOver", "message": "primary down",
               "lastTimestamp": "2026-11-30T05:58:00Z"}]  # fmt: skip
    text = render_status(body, events, now=NOW)
    assert len(text.splitlines()) <= 40
    for expected in (
        "Phase:          FailedOver",
        "Replicas:       1/2 ready",
        "Database:       replica active (primary probe failures: 4)",
        "last success: 2026-11-30T05:00:00Z (1h ago)",
        "last run 2026-11-30T04:16:00Z (1h ago) Succeeded: 7 rows deleted",
        "Ready",
        "2m  Warning  FailedOver",
        "kubectl repairgpt failback shop",
        "kubectl repairgpt logs shop",
    ):
        assert expected in text, expected
    assert next_steps(instance_body()) == ["nothing to do; details: kubectl describe rgi shop"]
    scaled_to_zero = _with_status(
        conditions=[{"type": "Ready", "status": "False", "reason": "ScaledToZero"}]
    )
    assert next_steps(scaled_to_zero) == next_steps(instance_body())
