"""The restore Job runs `repairgpt backup restore` with Secrets by reference, owned by its
RepairGPTRestore."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.backup.spec import BackupS3
from repairgpt_operator.instance.spec_fields import DatabaseSecretRef
from repairgpt_operator.resources.restore_job import (
    RestoreRequest,
    build_find_job,
    build_restore_job,
    build_safety_backup_job,
    restore_job_name,
)
from repairgpt_operator.restore.spec import RepairGPTRestoreSpec
from tests.operator.factories import make_instance


def _request(name: str = "tuesday", **spec: Any) -> RestoreRequest:
    return RestoreRequest(
        name=name,
        namespace="repair",
        uid="9d1c-uid",
        spec=RepairGPTRestoreSpec.model_validate({"instanceName": "shop", **spec}),
    )


S3 = BackupS3.model_validate(
    {"bucket": "shop-backups", "prefix": "db/", "credentialsSecret": "shop-s3"}
)
TARGET = DatabaseSecretRef.model_validate({"secretName": "repairgpt-db"})


def test_restore_job_restores_the_named_backup_into_the_target_from_its_secret() -> None:
    job = build_restore_job(
        _request(backup="latest"),
        make_instance(),
        s3=S3,
        target=TARGET,
        key="db/repairgpt-1.sql.gz",
    )
    assert job["metadata"]["name"] == "tuesday-restore"
    [container] = job["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    # The key named when the restore was accepted, not `latest` again.
    assert command[:4] == ["repairgpt", "backup", "restore", "db/repairgpt-1.sql.gz"]
    assert "--clean" not in command
    env = {item["name"]: item for item in container["env"]}
    assert env["RESTORE_TARGET_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "repairgpt-db",
        "key": "database-url",
    }
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "shop-s3"
    # No retries: a failed restore is reported, not repeated.
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_restore_job_is_owned_by_the_restore_and_labelled_for_the_instance() -> None:
    job = build_restore_job(_request(clean=True), make_instance(), s3=S3, target=TARGET, key="k")
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "RepairGPTRestore",
        "tuesday",
        "9d1c-uid",
    )
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "shop"
    assert labels["app.kubernetes.io/component"] == "restore"
    assert labels["repairgpt.io/restore"] == "tuesday"
    assert "--clean" in job["spec"]["template"]["spec"]["containers"][0]["command"]


def test_long_restore_names_give_valid_job_names() -> None:
    long_name = "restore-after-the-incident-of-the-twenty-eighth-of-november-2026"
    name = restore_job_name(_request(long_name))
    assert len(name) <= 63
    assert name.endswith("-restore")
    assert name != restore_job_name(_request(long_name + "x"))


def test_the_target_url_is_never_in_the_restore_command_line() -> None:
    job = build_restore_job(_request(), make_instance(), s3=S3, target=TARGET, key="k")
    [container] = job["spec"]["template"]["spec"]["containers"]
    # $(VAR) in a command is expanded by the kubelet into the process's arguments.
    assert not [arg for arg in container["command"] if "$(" in arg or "URL" in arg]
    assert "--target-url" not in container["command"]
    assert "DATABASE_URL" not in {item["name"] for item in container["env"]}


def test_the_find_job_names_the_backup_of_the_restore_without_any_database() -> None:
    job = build_find_job(_request(backup="latest"), make_instance(), s3=S3)
    assert job["metadata"]["name"] == "tuesday-find"
    assert job["metadata"]["labels"]["repairgpt.io/restore"] == "tuesday"
    [container] = job["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:4] == ["repairgpt", "backup", "find", "latest"]
    assert command[command.index("--result-file") + 1] == "/dev/termination-log"
    assert {item["name"] for item in container["env"]} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }


def test_the_backup_before_a_restore_dumps_the_instance_database_like_the_cronjob() -> None:
    job = build_safety_backup_job(_request(clean=True), make_instance(), s3=S3, database=TARGET)
    assert job["metadata"]["name"] == "tuesday-backup"
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RepairGPTRestore", "tuesday")
    [container] = job["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:3] == ["repairgpt", "backup", "create"]
    assert command[command.index("--bucket") + 1] == "shop-backups"
    assert command[command.index("--result-file") + 1] == "/dev/termination-log"
    env = {item["name"]: item for item in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "repairgpt-db"
    assert job["spec"]["backoffLimit"] == 0


def test_long_restore_names_give_valid_names_for_every_job() -> None:
    long_name = "restore-after-the-incident-of-the-twenty-eighth-of-november-2026"
    for step in ("find", "backup", "restore"):
        name = restore_job_name(_request(long_name), step)
        assert len(name) <= 63 and name.endswith(f"-{step}"), name


def test_every_job_pod_of_the_operator_has_a_size_limited_scratch_volume() -> None:
    from repairgpt_operator.resources.backup_cronjob import (
        build_backup_cronjob,
        build_verify_cronjob,
    )
    from tests.operator.resources.test_backup_cronjob import BACKUP

    scheduled = make_instance(
        {"backup": {**BACKUP["backup"], "verify": {"enabled": True, "schedule": "45 4 * * *"}}}
    )
    templates = [
        cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for cronjob in (build_backup_cronjob(scheduled), build_verify_cronjob(scheduled))
    ] + [
        job["spec"]["template"]["spec"]
        for job in (
            build_restore_job(_request(), make_instance(), s3=S3, target=TARGET, key="db/k"),
            build_find_job(_request(), make_instance(), s3=S3),
            build_safety_backup_job(_request(clean=True), make_instance(), s3=S3, database=TARGET),
        )
    ]
    for template in templates:
        volumes = template["volumes"]
        assert volumes
        for volume in volumes:
            assert volume["emptyDir"]["sizeLimit"] == "256Mi", volume
