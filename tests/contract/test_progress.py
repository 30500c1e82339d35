"""Progress lines the backup commands print are the ones the operator finds in a Job's log."""

from __future__ import annotations

import io

import pytest

from repairgpt.backup.progress import Progress
from repairgpt_contract.progress import (
    APPLIED,
    DOWNLOADED,
    DOWNLOADED_AND_APPLIED,
    MAX_PROGRESS_LENGTH,
    RESTORE_PHASES,
    UPLOADED,
    latest_progress,
    parse_progress_line,
    progress_label,
)
from tests.app.backup.sample_database import Database, RunCli

KEY = "db/repairgpt-20261128T224501.000Z.sql.gz"
GiB = 1 << 30


def printed(command: str, phase: str, *, total: int | None = GiB, finish: bool = False) -> str:
    """What the app's own progress printer writes for one transfer half done."""
    out = io.StringIO()
    now = [0.0]
    progress = Progress(
        progress_label(command, KEY, phase),
        total=total,
        interval=0,
        stream=out,
        clock=lambda: now[0],
    )
    now[0] = 1.0
    progress.add(GiB // 2)
    if finish:
        progress.finish("restored")
    return out.getvalue()


@pytest.mark.parametrize("phase", RESTORE_PHASES)
def test_the_operator_reads_each_restore_phase_the_app_prints(phase: str) -> None:
    log = printed("restore", phase) + "NOTICE:  something from psql\n"
    found = latest_progress(log)
    assert found == f"{KEY}: {phase}: 512.0 MiB of 1.0 GiB (50 %), 512.0 MiB/s"


def test_the_applied_amount_follows_a_colon_as_the_operator_expects() -> None:
    """`restore KEY: applied: 512.0 MiB`, never `applied 512.0 MiB`."""
    (line,) = printed("restore", APPLIED).splitlines()
    assert f"{KEY}: applied: 512.0 MiB" in line
    progress = parse_progress_line(line)
    assert progress is not None
    assert (progress.command, progress.key, progress.phase) == ("restore", KEY, APPLIED)
    assert progress.amount == "512.0 MiB of 1.0 GiB (50 %), 512.0 MiB/s"
    assert progress.percent == 50
    assert parse_progress_line(line.replace("applied:", "applied")) is None


def test_the_last_line_of_a_transfer_is_still_a_progress_line() -> None:
    log = printed("restore", DOWNLOADED_AND_APPLIED, finish=True)
    last = parse_progress_line(log.splitlines()[-1])
    assert last is not None and last.amount.endswith(", restored in 1.0 s")
    assert latest_progress(log) == last.text


def test_only_the_newest_restore_line_is_reported() -> None:
    log = printed("restore", DOWNLOADED) + printed("restore", APPLIED) + printed("backup", UPLOADED)
    found = latest_progress(log)
    assert found is not None and found.startswith(f"{KEY}: {APPLIED}: ")


def test_backup_and_verify_lines_are_not_taken_for_a_restore() -> None:
    log = printed("backup", UPLOADED, total=None) + printed("verify", APPLIED)
    assert latest_progress(log) is None
    assert latest_progress(log, command="verify") == (
        f"{KEY}: applied: 512.0 MiB of 1.0 GiB (50 %), 512.0 MiB/s"
    )
    uploaded = parse_progress_line(log.splitlines()[0])
    assert uploaded is not None and uploaded.phase == UPLOADED and uploaded.percent is None


def test_a_progress_line_in_a_status_is_cut_to_its_limit() -> None:
    long_key = "db/" + "k" * 300 + ".sql.gz"
    line = f"restore {long_key}: applied: 1.0 MiB, 1.0 MiB/s"
    found = latest_progress(line)
    assert found is not None and len(found) == MAX_PROGRESS_LENGTH
    assert found == f"{long_key}: applied: 1.0 MiB, 1.0 MiB/s"[:MAX_PROGRESS_LENGTH]


@pytest.mark.slow
@pytest.mark.parametrize("flags", [(), ("--verify-first",)], ids=["streamed", "verify-first"])
def test_a_real_restore_prints_progress_the_operator_reads(
    flags: tuple[str, ...],
    backup_cli: RunCli,
    small_database: Database,
    empty_database: Database,
    s3_bucket: str,
) -> None:
    created = backup_cli(
        "create", "--database-url", small_database.url, "--bucket", s3_bucket,
        "--progress-interval", "0",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    uploads = [parse_progress_line(line) for line in created.stderr.splitlines()]
    key = next(p.key for p in uploads if p is not None and p.phase == UPLOADED)
    restored = backup_cli(
        "restore", key, "--bucket", s3_bucket, "--target-url", empty_database.url,
        "--progress-interval", "0", *flags,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    phases = {
        p.phase
        for p in map(parse_progress_line, restored.stderr.splitlines())
        if p is not None and p.command == "restore" and p.key == key
    }
    assert phases == ({DOWNLOADED, APPLIED} if flags else {DOWNLOADED_AND_APPLIED})
    found = latest_progress(restored.stderr)
    last_phase = APPLIED if flags else DOWNLOADED_AND_APPLIED
    assert found is not None and found.startswith(f"{key}: {last_phase}: ")
    assert found.endswith(" s")  # the closing line: `..., restored in 0.1 s`
