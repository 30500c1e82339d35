"""Backup before upgrade: when a change of spec.image waits, which Job it waits for, and what
the status says."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.backup.jobs import FinishedJob
from repairgpt_operator.resources.backup_cronjob import build_backup_cronjob
from repairgpt_operator.resources.backup_job import (
    BACKUP_TOKEN_ANNOTATION,
    TRIGGER_LABEL,
    UPGRADE_IMAGE_ANNOTATION,
    build_upgrade_job,
)
from repairgpt_operator.rollout.upgrade import (
    SKIP_ANNOTATION,
    UpgradeJob,
    holds,
    judge,
    pending_change,
    skip_requested,
    upgrade_condition,
    upgrade_events,
    upgrade_job_name,
)
from tests.operator.factories import make_instance

OLD, NEW = "repo/app:1", "repo/app:2"
BACKUP = {
    "enabled": True,
    "beforeUpgrade": True,
    "s3": {"bucket": "shop-backups", "credentialsSecret": "shop-s3"},
}


def _change(**overrides: Any) -> dict[str, Any] | None:
    arguments: dict[str, Any] = {
        "enabled": True,
        "running_image": OLD,
        "target": NEW,
        "generation": 4,
        "instance_name": "shop",
    }
    return pending_change(None, **{**arguments, **overrides})


def _finished(succeeded: bool) -> FinishedJob:
    return FinishedJob(
        name="j", succeeded=succeeded, started="T0", finished="T1", message="", token=None
    )


def test_a_change_of_spec_image_waits_for_a_backup_job_named_after_it() -> None:
    record = _change()
    assert record == {
        "image": NEW,
        "fromImage": OLD,
        "generation": 4,
        "job": upgrade_job_name("shop", OLD, NEW, 4),
        "phase": "Pending",
    }
    assert holds(record)
    assert (
        record["job"].startswith("shop-upgrade-")
        and len(record["job"]) == len("shop-upgrade-") + 10
    )
    # Another change (another target, or the same target made again later) gets another Job.
    assert upgrade_job_name("shop", OLD, "repo/app:3", 4) != record["job"]
    assert upgrade_job_name("shop", OLD, NEW, 9) != record["job"]


def test_nothing_waits_without_the_option_a_running_image_or_a_change() -> None:
    assert _change(enabled=False) is None
    assert _change(running_image=None) is None  # a new instance: nothing runs yet
    assert _change(running_image=NEW) is None


def test_the_same_change_keeps_its_record_and_job() -> None:
    first = _change()
    again = pending_change(
        first, enabled=True, running_image=OLD, target=NEW, generation=6, instance_name="shop"
    )
    assert again == first


def test_a_finished_record_stays_and_an_abandoned_one_goes() -> None:
    done = {**(_change() or {}), "phase": "Succeeded"}
    kept = pending_change(
        done, enabled=True, running_image=NEW, target=NEW, generation=5, instance_name="shop"
    )
    assert kept == done
    waiting = _change()
    # spec.image went back to the running image while the backup was pending.
    dropped = pending_change(
        waiting, enabled=True, running_image=OLD, target=OLD, generation=5, instance_name="shop"
    )
    assert dropped is None


def test_the_job_decides_the_phase_and_only_success_or_a_skip_lets_the_change_through() -> None:
    record = _change() or {}
    assert judge(record, UpgradeJob(), skip=None)["phase"] == "Pending"
    assert judge(record, UpgradeJob(exists=True), skip=None)["phase"] == "Running"
    done = judge(record, UpgradeJob(exists=True, finished=_finished(True)), skip=None)
    assert done["phase"] == "Succeeded" and not holds(done)
    failed = judge(
        record,
        UpgradeJob(exists=True, finished=_finished(False), error="cannot connect: bad password"),
        skip=None,
    )
    assert (failed["phase"], failed["message"]) == ("Failed", "cannot connect: bad password")
    assert holds(failed)
    skipped = judge(failed, UpgradeJob(exists=True, finished=_finished(False)), skip=NEW)
    assert skipped["phase"] == "Skipped" and "message" not in skipped and not holds(skipped)
    # A skip names the image it skips: another image's backup still runs.
    assert judge(record, UpgradeJob(), skip="repo/app:other")["phase"] == "Pending"


def test_the_condition_says_what_waits_and_how_to_go_on_after_a_failure() -> None:
    failed = {**(_change() or {}), "phase": "Failed", "message": "password authentication failed"}
    condition = upgrade_condition(failed, instance_name="shop", generation=4)
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "BackupBeforeUpgrade",
        "False",
        "Failed",
    )
    assert "password authentication failed" in condition["message"]
    assert f"the API keeps {OLD}" in condition["message"]
    assert f"kubectl annotate rgi shop {SKIP_ANNOTATION}={NEW}" in condition["message"]
    running = upgrade_condition({**failed, "phase": "Running"}, instance_name="shop", generation=4)
    assert (running["status"], running["reason"]) == ("False", "Running")
    idle = upgrade_condition(None, instance_name="shop", generation=4)
    assert (idle["status"], idle["reason"]) == ("True", "NoChangeWaiting")


def test_events_follow_the_phase() -> None:
    pending = _change()
    assert [e.reason for e in upgrade_events(None, pending)] == ["UpgradeHeld"]
    running = {**(pending or {}), "phase": "Running"}
    assert upgrade_events(pending, running) == []
    failed = {**running, "phase": "Failed", "message": "boom"}
    assert [(e.type, e.reason) for e in upgrade_events(running, failed)] == [
        ("Warning", "UpgradeBackupFailed")
    ]
    assert upgrade_events(failed, failed) == []


def test_the_upgrade_job_is_the_backup_job_run_with_the_running_image() -> None:
    instance = make_instance({"image": NEW, "backup": BACKUP})
    record = _change() or {}
    job = build_upgrade_job(instance, build_backup_cronjob(instance), record)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["name"] == record["job"]
    assert job["metadata"]["annotations"][UPGRADE_IMAGE_ANNOTATION] == NEW
    assert BACKUP_TOKEN_ANNOTATION not in job["metadata"]["annotations"]
    assert job["metadata"]["labels"][TRIGGER_LABEL] == "upgrade"
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "backup"
    pod = job["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["initContainers"] + pod["containers"]] == [OLD, OLD]
    assert pod["initContainers"][0]["command"][:3] == ["repairgpt", "backup", "create"]
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RepairGPTInstance", "shop")


def test_the_skip_annotation_names_an_image() -> None:
    body = {"metadata": {"annotations": {SKIP_ANNOTATION: NEW}}}
    assert skip_requested(body) == NEW
    assert skip_requested({"metadata": {}}) is None
