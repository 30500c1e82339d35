"""The JSON results the commands write are read back whole by the operator, and always fit a
termination message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from repairgpt.cli import main as repairgpt_main
from repairgpt_contract.argv import prune_chats_argv
from repairgpt_contract.results import (
    PRUNE_CHATS_FIGURES,
    RESULT_FILE_LIMIT,
    TERMINATION_LOG,
    CreateResult,
    FindResult,
    PruneChatsResult,
    RestoreResult,
    VerifyResult,
    key_of,
    read_result,
    s3_location,
    write_result,
)
from tests.app.backup.sample_database import Database, RunCli


def read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == 1
    assert len(text.encode()) <= RESULT_FILE_LIMIT
    result = read_result(text)
    assert result is not None
    return result


def keys(typed: type) -> set[str]:
    return set(typed.__annotations__)


def test_anything_but_a_json_object_reads_as_no_result() -> None:
    assert read_result("") is None
    assert read_result("repairgpt backup: error: boom\n") is None
    assert read_result("[1, 2]") is None
    assert read_result('{"key": "k"}\n') == {"key": "k"}


def test_the_key_of_a_result_comes_from_its_location_when_missing() -> None:
    assert key_of({"key": "db/a.sql.gz", "location": "s3://b/db/other.sql.gz"}) == "db/a.sql.gz"
    assert key_of({"location": s3_location("b", "db/a.sql.gz")}) == "db/a.sql.gz"
    assert key_of({"key": "", "location": "s3://b/"}) is None
    assert key_of({"location": "/local/file"}) is None


def test_a_result_file_with_huge_table_names_still_fits_a_termination_message(
    tmp_path: Path,
) -> None:
    long_name = '"' + "表" * 60 + '"."' + "x" * 60 + '"'
    mismatches = [{"table": long_name + str(i), "expected": 10**12, "actual": -1} for i in range(5)]
    key = "backups/" + "k" * 900 + "/repairgpt-20261128T224501.000Z.sql.gz"
    result_file = tmp_path / "termination-log"
    write_result(
        result_file, {"key": key, "location": f"s3://bucket/{key}", "mismatches": mismatches}
    )
    written = json.loads(result_file.read_text())
    assert len(result_file.read_bytes()) <= RESULT_FILE_LIMIT < 4096
    assert 1 <= len(written["mismatches"]) < 5
    assert written["mismatches"] == mismatches[: len(written["mismatches"])]


@pytest.mark.slow
def test_create_find_restore_and_verify_results_read_back_with_their_keys(
    backup_cli: RunCli,
    small_database: Database,
    empty_database: Database,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    def run(name: str, *args: str) -> dict[str, Any]:
        path = tmp_path / f"{name}.json"
        ran = backup_cli(name, *args, "--bucket", s3_bucket, "--result-file", str(path))
        assert ran.returncode == 0, ran.stderr
        return read(path)

    created = run("create", "--database-url", small_database.url)
    assert set(created) == keys(CreateResult)
    key = key_of(created)
    assert key is not None and created["location"] == s3_location(s3_bucket, key)

    found = run("find", "latest")
    assert set(found) == keys(FindResult)
    assert key_of(found) == key

    restored = run("restore", "latest", "--target-url", empty_database.url)
    assert set(restored) == keys(RestoreResult)
    assert (key_of(restored), restored["counts_match"], restored["mismatches"]) == (key, True, [])

    verified = run("verify", "latest", "--database-url", small_database.url)
    assert set(verified) == keys(VerifyResult)
    assert (key_of(verified), verified["verified"], verified["rows"]) == (key, True, 1135)


def test_the_chat_retention_result_carries_the_figures_the_operator_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'retention.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert repairgpt_main(["db", "migrate"]) == 0
    capsys.readouterr()
    argv = prune_chats_argv(older_than_days=30, batch_size=100)
    result_file = tmp_path / "termination-log"
    argv[argv.index(TERMINATION_LOG)] = str(result_file)
    assert repairgpt_main(argv[1:]) == 0
    result = read(result_file)
    assert capsys.readouterr().out == result_file.read_text()
    assert set(result) == keys(PruneChatsResult)
    for figure in PRUNE_CHATS_FIGURES:
        assert isinstance(result[figure], int | float) and not isinstance(result[figure], bool)
