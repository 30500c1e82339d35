"""The chat retention CronJob: its command, schedule, security and when it exists."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.resources import desired_children, unwanted_children
from repairgpt_operator.resources.backup_cronjob import build_backup_cronjob
from repairgpt_operator.resources.retention_cronjob import build_retention_cronjob
from tests.operator.factories import make_instance

BACKUP: dict[str, Any] = {"backup": {"enabled": True, "s3": {"bucket": "shop-backups"}}}


def _cronjob_names(spec: dict[str, Any]) -> list[str]:
    children = desired_children(make_instance(spec))
    return [c["metadata"]["name"] for c in children if c["kind"] == "CronJob"]


def test_retention_is_on_by_default_daily_keeping_a_year() -> None:
    cronjob = build_retention_cronjob(make_instance())
    assert cronjob["metadata"]["name"] == "shop-retention"
    assert cronjob["metadata"]["labels"]["app.kubernetes.io/component"] == "retention"
    assert cronjob["metadata"]["ownerReferences"][0]["kind"] == "RepairGPTInstance"
    spec = cronjob["spec"]
    assert spec["schedule"] == "15 4 * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["suspend"] is False
    container = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == [
        "repairgpt", "db", "prune-chats", "--older-than-days", "365", "--batch-size", "5000",
        "--result-file", "/dev/termination-log",
    ]  # fmt: skip
    assert container["image"] == "ghcr.io/example/repairgpt-app:1.2.3"
    assert "shop-retention" in _cronjob_names({})


def test_days_schedule_and_batch_size_come_from_the_spec() -> None:
    instance = make_instance(
        {"retention": {"chatHistoryDays": 90, "schedule": "0 2 * * SUN", "batchSize": 1000}}
    )
    spec = build_retention_cronjob(instance)["spec"]
    command = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert spec["schedule"] == "0 2 * * SUN"
    assert command[command.index("--older-than-days") + 1] == "90"
    assert command[command.index("--batch-size") + 1] == "1000"


def test_zero_days_turns_retention_off_and_lists_the_cronjob_for_deletion() -> None:
    instance = make_instance({"retention": {"chatHistoryDays": 0}})
    assert "shop-retention" not in _cronjob_names({"retention": {"chatHistoryDays": 0}})
    assert ("CronJob", "shop-retention") in {(r.kind, r.name) for r in unwanted_children(instance)}


def test_pod_matches_the_backup_pod_security_and_reads_the_database_url_from_the_secret() -> None:
    retention = build_retention_cronjob(make_instance(BACKUP))["spec"]["jobTemplate"]["spec"]
    backup = build_backup_cronjob(make_instance(BACKUP))["spec"]["jobTemplate"]["spec"]
    pod, backup_pod = retention["template"]["spec"], backup["template"]["spec"]
    assert pod["securityContext"] == backup_pod["securityContext"]
    assert pod["volumes"] == backup_pod["volumes"]  # the size-limited emptyDir /tmp
    assert pod["volumes"][0]["emptyDir"]["sizeLimit"]
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    assert container["securityContext"] == backup_pod["containers"][0]["securityContext"]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    database = next(e for e in container["env"] if e["name"] == "DATABASE_URL")
    assert database["valueFrom"]["secretKeyRef"] == {"name": "repairgpt-db", "key": "database-url"}
    assert all("value" not in e or "postgres" not in e["value"] for e in container["env"])


def test_suspended_while_failed_over_to_the_read_only_replica() -> None:
    spec = {
        "database": {"replica": {"secretName": "repairgpt-db-replica", "key": "database-url"}},
        "failover": {"enabled": True},
    }
    failed_over = make_instance(spec, status={"database": {"active": "replica"}})
    assert build_retention_cronjob(failed_over)["spec"]["suspend"] is True
    assert build_retention_cronjob(make_instance(spec))["spec"]["suspend"] is False
