"""What the app's job commands really write, read by the operator's own readers: the error a
failed backup Job reports, the figures of a retention Job, and where a backup went."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from repairgpt.backup.__main__ import main as backup_main
from repairgpt.cli import main as repairgpt_main
from repairgpt_contract.argv import prune_chats_argv
from repairgpt_contract.results import TERMINATION_LOG
from repairgpt_operator.backup.job_output import pod_error, pod_result
from repairgpt_operator.backup.jobs import JobsObservation
from repairgpt_operator.resources.backup_cronjob import BACKUP_CONTAINER
from repairgpt_operator.resources.retention_cronjob import RETENTION_CONTAINER
from repairgpt_operator.retention.status import retention_status
from tests.app.backup.sample_database import Database, RunCli

JOB = "shop-backup-29001"
FINISHED = "2026-11-29T03:00:41Z"


def ended_pod(container: str, exit_code: int, message: str) -> dict[str, Any]:
    """A Job's pod as the kubelet reports it once its container ended: the termination message
    is the result file, or the tail of the log for a failed container."""
    terminated = {"exitCode": exit_code, "message": message}
    return {
        "metadata": {"labels": {"job-name": JOB}},
        "status": {"containerStatuses": [{"name": container, "state": {"terminated": terminated}}]},
    }


def finished_job(condition: str) -> dict[str, Any]:
    return {
        "metadata": {"name": JOB},
        "status": {
            "startTime": "2026-11-29T03:00:00Z",
            "completionTime": FINISHED if condition == "Complete" else None,
            "conditions": [{"type": condition, "status": "True", "lastTransitionTime": FINISHED}],
        },
    }


@pytest.fixture
def backup_command(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs `repairgpt backup` in this process; its SIGTERM handler is put back afterwards."""
    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    yield
    signal.signal(signal.SIGTERM, handler)


@pytest.mark.usefixtures("backup_command")
def test_a_failed_backup_job_reports_the_commands_own_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = backup_main(["backup", "create", "--bucket", "shop-backups"])
    err = capsys.readouterr().err
    assert code != 0
    pods = [ended_pod(BACKUP_CONTAINER, code, "progress: 1 MiB\n" + err)]
    error = pod_error(pods, JOB)
    assert error is not None and "DATABASE_URL" in error
    assert not error.startswith("repairgpt backup")


@pytest.mark.slow
def test_where_a_backup_went_is_read_from_the_result_the_command_wrote(
    backup_cli: RunCli, small_database: Database, s3_bucket: str, tmp_path: Path
) -> None:
    result_file = tmp_path / "termination-log"
    ran = backup_cli(
        "create",
        "--database-url",
        small_database.url,
        "--bucket",
        s3_bucket,
        "--result-file",
        str(result_file),
    )
    assert ran.returncode == 0, ran.stderr
    result = pod_result([ended_pod(BACKUP_CONTAINER, 0, result_file.read_text())], JOB)
    assert result is not None
    assert str(result["location"]).startswith(f"s3://{s3_bucket}/")
    assert isinstance(result["size_bytes"], int) and result["size_bytes"] > 0


def test_a_retention_jobs_figures_reach_the_status_as_the_command_wrote_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'retention.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert repairgpt_main(["db", "migrate"]) == 0
    argv = prune_chats_argv(older_than_days=30, batch_size=100)
    result_file = tmp_path / "termination-log"
    argv[argv.index(TERMINATION_LOG)] = str(result_file)
    assert repairgpt_main(argv[1:]) == 0
    capsys.readouterr()
    observed = JobsObservation(
        jobs=(finished_job("Complete"),),
        pods=(ended_pod(RETENTION_CONTAINER, 0, result_file.read_text()),),
    )
    status = retention_status({}, observed)
    assert status["outcome"] == "Succeeded" and status["lastRunTime"] == FINISHED
    assert {field: status[field] for field in ("rowsDeleted", "batches")} == {
        "rowsDeleted": 0,
        "batches": 0,
    }
    assert isinstance(status["seconds"], float | int) and "maxBatchSeconds" in status


def test_a_failed_retention_job_reports_the_last_line_of_its_log() -> None:
    observed = JobsObservation(
        jobs=(finished_job("Failed"),),
        pods=(ended_pod(RETENTION_CONTAINER, 1, "starting\npsycopg.OperationalError: refused\n"),),
    )
    status = retention_status({}, observed)
    assert (status["outcome"], status["lastError"]) == (
        "Failed",
        "psycopg.OperationalError: refused",
    )
