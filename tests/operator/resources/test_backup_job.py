"""The on-demand backup Job: named per token, the CronJob's pod, the schedule's database."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.resources.backup_cronjob import build_backup_cronjob
from repairgpt_operator.resources.backup_job import (
    BACKUP_TOKEN_ANNOTATION,
    build_manual_job,
    manual_job_name,
)
from tests.operator.factories import make_instance

BACKUP: dict[str, Any] = {
    "backup": {"enabled": True, "schedule": "0 * * * *", "s3": {"bucket": "shop-backups"}}
}


def test_manual_job_name_is_stable_per_token_and_differs_between_tokens() -> None:
    instance = make_instance(BACKUP)
    first = manual_job_name(instance, "2026-11-28T21:00:00Z")
    assert first == manual_job_name(instance, "2026-11-28T21:00:00Z")
    assert first != manual_job_name(instance, "2026-11-28T22:00:00Z")
    assert first.startswith("shop-backup-")
    assert len(first) <= 63


def test_manual_job_runs_the_cronjob_pod_and_is_owned_by_the_instance() -> None:
    instance = make_instance(BACKUP)
    cronjob = build_backup_cronjob(instance)
    job = build_manual_job(instance, cronjob, "now-1")
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    assert job["spec"]["template"] == template
    assert job["spec"]["backoffLimit"] == cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"]
    assert job["metadata"]["annotations"][BACKUP_TOKEN_ANNOTATION] == "now-1"
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "backup"
    assert job["metadata"]["ownerReferences"][0]["name"] == "shop"
    # The CronJob manifest is not changed by building a Job from it.
    assert "ttlSecondsAfterFinished" not in cronjob["spec"]["jobTemplate"]["spec"]


def test_an_on_demand_backup_dumps_the_same_database_as_the_schedule() -> None:
    spec = {
        **BACKUP,
        "database": {"replica": {"secretName": "repairgpt-db-replica", "key": "database-url"}},
    }
    instance = make_instance(spec, status={"database": {"active": "replica"}})
    job = build_manual_job(instance, build_backup_cronjob(instance), "t1")
    assert job["metadata"]["annotations"] == {
        "repairgpt.io/backup-source": "replica",
        BACKUP_TOKEN_ANNOTATION: "t1",
    }
    [dump] = job["spec"]["template"]["spec"]["initContainers"]
    env = {item["name"]: item for item in dump["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "repairgpt-db-replica"
