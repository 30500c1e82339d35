"""The backup CronJob dumps the primary database to S3, then prunes, with Secrets by reference."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.resources import desired_children, unwanted_children
from repairgpt_operator.resources.backup_cronjob import build_backup_cronjob, build_verify_cronjob
from tests.operator.factories import make_instance

BACKUP: dict[str, Any] = {
    "backup": {
        "enabled": True,
        "schedule": "15 */6 * * *",
        "retentionDays": 14,
        "s3": {
            "bucket": "shop-backups",
            "prefix": "db/",
            "endpoint": "http://minio.storage:9000",
            "region": "eu-west-1",
            "credentialsSecret": "shop-s3",
        },
    }
}


def _cronjob(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = {**BACKUP, **(extra or {})}
    return build_backup_cronjob(make_instance(spec))


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in container["env"]}


def test_cronjob_is_named_after_the_instance_labelled_backup_and_owned_by_it() -> None:
    cronjob = _cronjob()
    metadata = cronjob["metadata"]
    assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
    assert metadata["name"] == "shop-backup"
    assert metadata["namespace"] == "repair"
    assert metadata["labels"]["app.kubernetes.io/component"] == "backup"
    owner = metadata["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "RepairGPTInstance",
        "shop",
        True,
    )


def test_cronjob_runs_on_the_schedule_one_run_at_a_time_with_bounded_history() -> None:
    spec = _cronjob()["spec"]
    assert spec["schedule"] == "15 */6 * * *"
    assert spec["suspend"] is False
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 3
    assert spec["startingDeadlineSeconds"] > 0
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2
    assert job["activeDeadlineSeconds"] > 0


def test_suspend_in_the_spec_suspends_the_cronjob() -> None:
    suspended = _cronjob({"backup": {**BACKUP["backup"], "suspend": True}})
    assert suspended["spec"]["suspend"] is True


def test_dump_runs_first_and_prune_runs_only_after_it() -> None:
    pod = _pod(_cronjob())
    assert pod["restartPolicy"] == "Never"
    [dump] = pod["initContainers"]
    [prune] = pod["containers"]
    assert dump["command"][:3] == ["repairgpt", "backup", "create"]
    assert dump["command"][3:7] == ["--bucket", "shop-backups", "--prefix", "db/"]
    assert prune["command"] == [
        "repairgpt",
        "backup",
        "prune",
        "--bucket",
        "shop-backups",
        "--prefix",
        "db/",
        "--retention-days",
        "14",
    ]
    assert dump["image"] == prune["image"] == "ghcr.io/example/repairgpt-app:1.2.3"


def test_credentials_come_from_secrets_by_reference_never_as_values() -> None:
    pod = _pod(_cronjob())
    dump_env = _env(pod["initContainers"][0])
    assert dump_env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "repairgpt-db",
        "key": "database-url",
    }
    for container in (pod["initContainers"][0], pod["containers"][0]):
        env = _env(container)
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[variable] == {
                "name": variable,
                "valueFrom": {"secretKeyRef": {"name": "shop-s3", "key": variable}},
            }
        assert env["AWS_ENDPOINT_URL"]["value"] == "http://minio.storage:9000"
        assert env["AWS_DEFAULT_REGION"]["value"] == "eu-west-1"
    # The prune never needs the database.
    assert "DATABASE_URL" not in _env(pod["containers"][0])


def test_aws_endpoint_is_left_out_when_the_spec_names_none() -> None:
    s3 = {**BACKUP["backup"]["s3"], "endpoint": ""}
    cronjob = _cronjob({"backup": {**BACKUP["backup"], "s3": s3}})
    assert "AWS_ENDPOINT_URL" not in _env(_pod(cronjob)["initContainers"][0])


def test_backup_pod_meets_the_restricted_pod_security_standard() -> None:
    pod = _pod(_cronjob())
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    for container in pod["initContainers"] + pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_cronjob_is_wanted_only_while_backups_are_enabled() -> None:
    enabled = make_instance(BACKUP)
    disabled = make_instance()

    def cronjobs(instance: Instance) -> list[str]:
        return [c["metadata"]["name"] for c in desired_children(instance) if c["kind"] == "CronJob"]

    assert "shop-backup" in cronjobs(enabled)
    assert "shop-backup" not in cronjobs(disabled)
    assert ("CronJob", "shop-backup") in {(r.kind, r.name) for r in unwanted_children(disabled)}


VERIFY: dict[str, Any] = {
    "backup": {**BACKUP["backup"], "verify": {"enabled": True, "schedule": "45 4 * * *"}}
}


def test_verification_cronjob_exists_only_when_verification_is_enabled() -> None:
    names = {c["metadata"]["name"] for c in desired_children(make_instance(VERIFY))}
    assert {"shop-backup", "shop-verify"} <= names
    assert "shop-verify" not in {
        c["metadata"]["name"] for c in desired_children(make_instance(BACKUP))
    }
    assert ("CronJob", "shop-verify") in {
        (ref.kind, ref.name) for ref in unwanted_children(make_instance(BACKUP))
    }


def test_verification_restores_the_newest_backup_on_its_own_schedule() -> None:
    cronjob = build_verify_cronjob(make_instance(VERIFY))
    assert cronjob["metadata"]["name"] == "shop-verify"
    assert cronjob["spec"]["schedule"] == "45 4 * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    [container] = _pod(cronjob)["containers"]
    assert container["command"][:4] == ["repairgpt", "backup", "verify", "latest"]
    assert container["command"][4:8] == ["--bucket", "shop-backups", "--prefix", "db/"]
    assert container["command"][-2:] == ["--result-file", "/dev/termination-log"]
    env = _env(container)
    # The throwaway database goes on the primary's server unless another Secret is named.
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "repairgpt-db",
        "key": "database-url",
    }
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "shop-s3"
    assert "value" not in env["AWS_SECRET_ACCESS_KEY"]


def test_verification_can_run_on_another_database_server() -> None:
    spec = {
        "backup": {
            **VERIFY["backup"],
            "verify": {
                "enabled": True,
                "database": {"secretName": "scratch-db", "key": "url"},
            },
        }
    }
    [container] = _pod(build_verify_cronjob(make_instance(spec)))["containers"]
    assert _env(container)["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "scratch-db",
        "key": "url",
    }


def test_suspending_backups_suspends_their_verification() -> None:
    spec = {"backup": {**VERIFY["backup"], "suspend": True}}
    assert build_verify_cronjob(make_instance(spec))["spec"]["suspend"] is True


REPLICA = {"database": {"replica": {"secretName": "repairgpt-db-replica", "key": "database-url"}}}


def _failed_over(spec: dict[str, Any]) -> Any:
    return make_instance(spec, status={"database": {"active": "replica"}})


def test_backups_dump_the_replica_while_the_instance_is_failed_over() -> None:
    cronjob = build_backup_cronjob(_failed_over({**BACKUP, **REPLICA}))
    [dump] = _pod(cronjob)["initContainers"]
    assert _env(dump)["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "repairgpt-db-replica",
        "key": "database-url",
    }
    # Every Job the CronJob starts says which database it dumped.
    template = cronjob["spec"]["jobTemplate"]["metadata"]
    assert template["annotations"] == {"repairgpt.io/backup-source": "replica"}


def test_backups_dump_the_primary_while_it_is_active() -> None:
    cronjob = build_backup_cronjob(make_instance({**BACKUP, **REPLICA}))
    [dump] = _pod(cronjob)["initContainers"]
    assert _env(dump)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "repairgpt-db"
    template = cronjob["spec"]["jobTemplate"]["metadata"]
    assert template["annotations"] == {"repairgpt.io/backup-source": "primary"}
