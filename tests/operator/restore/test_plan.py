"""A restore's steps: hold the instance in maintenance, wait for the API to stop, run the Job,
report the result and lift the hold."""

from __future__ import annotations

import io
import itertools
import json
from typing import Any

import pytest

from repairgpt.backup.progress import Progress
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec import RESTORE_HOLD_ANNOTATION
from repairgpt_operator.resources.restore_job import RestoreRequest
from repairgpt_operator.restore.plan import plan_restore
from repairgpt_operator.restore.spec import RepairGPTRestoreSpec
from repairgpt_operator.restore.view import RestoreView
from tests.operator.factories import instance_body

NOW = "2026-11-28T12:00:00Z"
BACKUP = {"backup": {"enabled": True, "s3": {"bucket": "shop-backups", "prefix": "db/"}}}


KEY = "db/repairgpt-1.sql.gz"


def _restore(**spec: Any) -> RestoreRequest:
    return RestoreRequest(
        name="tuesday",
        namespace="repair",
        uid="uid-1",
        spec=RepairGPTRestoreSpec.model_validate({"instanceName": "shop", "backup": KEY, **spec}),
    )


def _instance(
    *,
    hold: str | None = None,
    maintenance: str = "Off",
    spec: dict[str, Any] | None = None,
    active: str = "primary",
) -> Instance:
    status = {"maintenance": {"phase": maintenance}, "database": {"active": active}}
    body = instance_body(spec or BACKUP, status=status)
    if hold:
        body["metadata"]["annotations"] = {RESTORE_HOLD_ANNOTATION: hold}
    return Instance.from_body(body)


def _job(outcome: str | None = None, name: str = "tuesday-restore") -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": "2026-11-28T12:01:00Z", "active": 1}
    if outcome:
        status["conditions"] = [
            {
                "type": outcome,
                "status": "True",
                "lastTransitionTime": "2026-11-28T12:04:00Z",
                "message": "BackoffLimitExceeded" if outcome == "Failed" else "",
            }
        ]
    return {"metadata": {"name": name}, "status": status}


def _pod(
    exit_code: int, message: str, job: str = "tuesday-restore", container: str = "restore"
) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "message": message}
    return {
        "metadata": {"labels": {"batch.kubernetes.io/job-name": job}},
        "status": {"containerStatuses": [{"name": container, "state": {"terminated": terminated}}]},
    }


def _view(restore: RestoreRequest | None = None, **kwargs: Any) -> RestoreView:
    return RestoreView(restore=restore or _restore(), status=kwargs.pop("status", {}), **kwargs)


def test_a_new_restore_first_puts_the_instance_into_maintenance() -> None:
    plan = plan_restore(_view(instance=_instance()), now=NOW)
    assert plan.phase == "Pending"
    assert plan.hold == "take"
    assert not plan.start_job
    assert "maintenance" in plan.status["message"]


def test_the_job_waits_until_maintenance_is_on_and_the_api_pods_are_gone() -> None:
    entering = plan_restore(_view(instance=_instance(hold="tuesday")), now=NOW)
    assert (entering.phase, entering.start_job, entering.hold) == ("Pending", False, None)
    pods_left = plan_restore(
        _view(instance=_instance(hold="tuesday", maintenance="On"), api_pods=2), now=NOW
    )
    assert (pods_left.phase, pods_left.start_job) == ("Pending", False)
    assert "2 pods left" in pods_left.status["message"]
    ready = plan_restore(_view(instance=_instance(hold="tuesday", maintenance="On")), now=NOW)
    assert (ready.phase, ready.start_job) == ("Running", True)
    assert ready.status["startTime"] == NOW
    assert ready.status["jobName"] == "tuesday-restore"
    assert [e.reason for e in ready.events] == ["RestoreStarted"]


def test_without_maintenance_the_job_starts_at_once() -> None:
    other = {"secretName": "scratch-db", "key": "database-url"}
    restore = _restore(maintenance=False, target=other)
    plan = plan_restore(_view(restore, instance=_instance()), now=NOW)
    assert (plan.phase, plan.start_job, plan.hold) == ("Running", True, None)


def test_a_second_restore_of_the_same_instance_waits_for_the_first() -> None:
    plan = plan_restore(_view(instance=_instance(hold="monday", maintenance="On")), now=NOW)
    assert (plan.phase, plan.start_job, plan.hold) == ("Pending", False, None)
    assert "monday" in plan.status["message"]


def test_a_running_job_keeps_the_restore_running_without_new_writes() -> None:
    view = _view(instance=_instance(hold="tuesday", maintenance="On"), job=_job())
    plan = plan_restore(view, now=NOW)
    assert plan.phase == "Running"
    assert plan.status["startTime"] == "2026-11-28T12:01:00Z"
    again = plan_restore(_view(status=plan.status, instance=view.instance, job=_job()), now=NOW)
    assert again.status == plan.status


def test_success_reports_the_restored_backup_and_lifts_the_hold() -> None:
    result = {
        "key": "db/repairgpt-1.sql.gz",
        "location": "s3://shop-backups/db/repairgpt-1.sql.gz",
        "tables": 7,
        "rows": 100042,
        "counts_match": True,
        "mismatches": [],
    }
    view = _view(
        status={"phase": "Running", "startTime": "2026-11-28T12:01:00Z"},
        instance=_instance(hold="tuesday", maintenance="On"),
        job=_job("Complete"),
        pods=(_pod(0, json.dumps(result)),),
    )
    plan = plan_restore(view, now=NOW)
    assert plan.phase == "Succeeded"
    assert plan.hold == "release"
    assert plan.status["backupKey"] == "db/repairgpt-1.sql.gz"
    assert plan.status["restoredRows"] == 100042
    assert plan.status["completionTime"] == "2026-11-28T12:04:00Z"
    assert "100042 rows in 7 tables" in plan.status["message"]
    complete = {c["type"]: c["status"] for c in plan.status["conditions"]}
    assert complete == {"Complete": "True", "Failed": "False"}
    assert [(e.reason, e.on_instance) for e in plan.events] == [("RestoreSucceeded", True)]


def test_failure_reports_the_command_error_and_lifts_the_hold() -> None:
    log = "repairgpt backup: error: the target database repairgpt is not empty; pass --clean\n"
    view = _view(
        status={"phase": "Running"},
        instance=_instance(hold="tuesday", maintenance="On"),
        job=_job("Failed"),
        pods=(_pod(32, log),),
    )
    plan = plan_restore(view, now=NOW)
    assert plan.phase == "Failed"
    assert plan.hold == "release"
    assert "not empty; pass --clean" in plan.status["message"]
    assert {c["type"]: c["status"] for c in plan.status["conditions"]}["Failed"] == "True"


def test_a_row_count_mismatch_fails_the_restore() -> None:
    result = {
        "key": "k",
        "counts_match": False,
        "mismatches": [{"table": "public.devices", "expected": 10, "actual": 9}],
    }
    view = _view(
        status={"phase": "Running"},
        instance=_instance(hold="tuesday", maintenance="On"),
        job=_job("Failed"),
        pods=(_pod(34, json.dumps(result)),),
    )
    plan = plan_restore(view, now=NOW)
    assert plan.phase == "Failed"
    assert "public.devices (10 in the manifest, 9 restored)" in plan.status["message"]


def test_clear_failures_for_a_missing_instance_or_backup_location() -> None:
    missing = plan_restore(_view(instance=None), now=NOW)
    assert missing.phase == "Failed"
    assert "shop does not exist" in missing.status["message"]
    no_s3 = plan_restore(_view(instance=_instance(spec={"replicas": 1})), now=NOW)
    assert no_s3.phase == "Failed"
    assert "spec.s3" in no_s3.status["message"]


def test_a_deleted_job_fails_the_restore_instead_of_starting_again() -> None:
    view = _view(status={"phase": "Running"}, instance=_instance(hold="tuesday", maintenance="On"))
    plan = plan_restore(view, now=NOW)
    assert (plan.phase, plan.start_job, plan.hold) == ("Failed", False, "release")


def test_a_finished_restore_only_lifts_a_hold_left_behind() -> None:
    done = {"phase": "Succeeded", "message": "restored"}
    left = plan_restore(_view(status=done, instance=_instance(hold="tuesday")), now=NOW)
    assert (left.hold, left.status) == ("release", done)
    clean = plan_restore(_view(status=done, instance=_instance()), now=NOW)
    assert (clean.hold, clean.start_job, clean.events) == (None, False, [])


def _restore_log(*stages: str) -> str:
    """A restore container's log as `repairgpt backup restore` writes it (its own Progress)."""
    out = io.StringIO()
    ticks = itertools.count()
    for stage in stages:
        progress = Progress(
            f"restore db/repairgpt-1.sql.gz: {stage}",
            total=1 << 30,
            interval=0,
            stream=out,
            clock=lambda: float(next(ticks)),
        )
        progress.add(1 << 29)
    out.write("NOTICE:  something from psql\n")
    return out.getvalue()


@pytest.mark.parametrize(
    "stages", [("downloaded and applied",), ("downloaded", "applied")], ids=["streamed", "first"]
)
def test_a_running_restore_shows_the_newest_progress_line_of_its_log(
    stages: tuple[str, ...],
) -> None:
    log = _restore_log(*stages)
    view = _view(instance=_instance(hold="tuesday", maintenance="On"), job=_job(), log_tail=log)
    message = plan_restore(view, now=NOW).status["message"]
    assert message.startswith(
        f"restoring {KEY} (Job tuesday-restore): db/repairgpt-1.sql.gz: {stages[-1]}: "
        "512.0 MiB of 1.0 GiB (50 %), "
    )


# --- naming the backup, failover, the backup before a clean restore -------------------------------

NEWEST = "db/repairgpt-20261128T030000.000Z.sql.gz"
FOUND = json.dumps({"key": NEWEST, "location": f"s3://shop-backups/{NEWEST}"})


def test_latest_is_named_by_a_find_job_before_the_instance_is_touched() -> None:
    plan = plan_restore(_view(_restore(backup="latest"), instance=_instance()), now=NOW)
    assert (plan.phase, plan.start, plan.hold) == ("Pending", "find", None)
    assert "finding the newest backup in s3://shop-backups/db/" in plan.status["message"]
    running = plan_restore(
        _view(_restore(backup="latest"), instance=_instance(), find_job=_job(None, "tuesday-find")),
        now=NOW,
    )
    assert (running.phase, running.start, running.hold) == ("Pending", None, None)


def test_the_key_latest_stood_for_is_recorded_and_is_the_one_restored() -> None:
    found = _view(
        _restore(backup="latest"),
        instance=_instance(),
        find_job=_job("Complete", "tuesday-find"),
        pods=(_pod(0, FOUND, "tuesday-find", "find"),),
    )
    accepted = plan_restore(found, now=NOW)
    assert accepted.status["backupKey"] == NEWEST
    assert accepted.hold == "take"
    # Later passes keep that key, whatever newer backups appear (the find Job is not read again).
    ready = _view(
        _restore(backup="latest"),
        status=accepted.status,
        instance=_instance(hold="tuesday", maintenance="On"),
    )
    started = plan_restore(ready, now=NOW)
    assert (started.phase, started.start) == ("Running", "restore")
    assert started.status["backupKey"] == NEWEST
    assert NEWEST in started.status["message"]


def test_no_backup_for_latest_fails_before_the_instance_is_touched() -> None:
    log = "repairgpt backup: error: no successful backup in s3://shop-backups/db/\n"
    view = _view(
        _restore(backup="latest"),
        instance=_instance(),
        find_job=_job("Failed", "tuesday-find"),
        pods=(_pod(31, log, "tuesday-find", "find"),),
    )
    plan = plan_restore(view, now=NOW)
    assert (plan.phase, plan.hold) == ("Failed", None)
    assert (
        "no backup to restore: no successful backup in s3://shop-backups/db/"
        in (plan.status["message"])
    )


def test_a_failed_over_instance_keeps_the_restore_pending_until_failback() -> None:
    plan = plan_restore(_view(instance=_instance(active="replica")), now=NOW)
    assert (plan.phase, plan.hold, plan.start) == ("Pending", None, None)
    assert "failed over" in plan.status["message"]
    assert "spec.target" in plan.status["message"]
    # Failed over after the hold was taken: the read-only API comes back meanwhile.
    held = plan_restore(
        _view(instance=_instance(hold="tuesday", maintenance="On", active="replica")), now=NOW
    )
    assert (held.phase, held.hold, held.start) == ("Pending", "release", None)


def test_a_failed_over_instance_does_not_hold_back_a_restore_into_another_database() -> None:
    other = {"secretName": "scratch-db", "key": "database-url"}
    restore = _restore(maintenance=False, target=other)
    plan = plan_restore(_view(restore, instance=_instance(active="replica")), now=NOW)
    assert (plan.phase, plan.start) == ("Running", "restore")


def test_a_clean_restore_into_the_instance_database_backs_it_up_first() -> None:
    ready = _instance(hold="tuesday", maintenance="On")
    plan = plan_restore(_view(_restore(clean=True), instance=ready), now=NOW)
    assert (plan.phase, plan.start) == ("Pending", "backup")
    assert "before the clean restore" in plan.status["message"]
    assert [e.reason for e in plan.events] == ["PreRestoreBackup"]
    running = plan_restore(
        _view(_restore(clean=True), instance=ready, backup_job=_job(None, "tuesday-backup")),
        now=NOW,
    )
    assert (running.phase, running.start) == ("Pending", None)
    safety = "db/repairgpt-20261128T120100.000Z.sql.gz"
    result = json.dumps({"key": safety, "location": f"s3://shop-backups/{safety}"})
    done = _view(
        _restore(clean=True),
        instance=ready,
        backup_job=_job("Complete", "tuesday-backup"),
        pods=(_pod(0, result, "tuesday-backup", "backup"),),
    )
    started = plan_restore(done, now=NOW)
    assert (started.phase, started.start) == ("Running", "restore")
    assert started.status["preRestoreBackupKey"] == safety
    assert started.status["preRestoreBackupLocation"] == f"s3://shop-backups/{safety}"
    # The backup restored is still the one named at the start, not the one just taken.
    assert started.status["backupKey"] == KEY


def test_a_failed_backup_before_a_clean_restore_fails_it_and_lifts_the_hold() -> None:
    log = "repairgpt backup: error: cannot connect to postgresql://shop:***@db/shop: refused\n"
    view = _view(
        _restore(clean=True),
        instance=_instance(hold="tuesday", maintenance="On"),
        backup_job=_job("Failed", "tuesday-backup"),
        pods=(_pod(20, log, "tuesday-backup", "backup"),),
    )
    plan = plan_restore(view, now=NOW)
    assert (plan.phase, plan.start, plan.hold) == ("Failed", None, "release")
    assert (
        "the backup before the restore failed, so nothing was restored" in (plan.status["message"])
    )
    assert "cannot connect" in plan.status["message"]
    assert [e.reason for e in plan.events] == ["PreRestoreBackupFailed"]


def test_a_clean_restore_into_another_database_needs_no_backup_first() -> None:
    other = {"secretName": "scratch-db", "key": "database-url"}
    restore = _restore(clean=True, maintenance=False, target=other)
    plan = plan_restore(_view(restore, instance=_instance()), now=NOW)
    assert (plan.phase, plan.start) == ("Running", "restore")
    assert "preRestoreBackupKey" not in plan.status
