"""The `repairgpt` command: import with progress, chat retention, secrets kept out of output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from repairgpt.cli import main
from repairgpt.core.config import Settings, mask_dsn, normalize_database_url
from repairgpt.core.db import build_session_factory, create_db_engine, migrate, session_scope
from repairgpt.core.logging import scrub_secrets
from repairgpt.models import ChatMessage, ChatSession
from repairgpt.services.chat_sessions import (
    Exchange,
    create_chat_session,
    parse_duration,
    record_exchange,
)
from tests.app.conftest import SAMPLE_GUIDES

REPAIRGPT = str(Path(sys.executable).parent / "repairgpt")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REPAIRGPT, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_guides_import_shows_progress_and_is_idempotent(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    first = _run("guides", "import", str(SAMPLE_GUIDES), env=env)
    assert first.returncode == 0, first.stderr
    assert "4 guides created" in first.stdout
    assert "4/4" in first.stderr  # the tqdm progress bar
    second = _run("guides", "import", str(SAMPLE_GUIDES), env=env)
    assert "0 guides created, 0 updated, 4 unchanged" in second.stdout


def test_importing_an_unreadable_file_fails_with_a_message(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text("not json at all")
    result = _run(
        "guides", "import", str(bogus), env={"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    )
    assert result.returncode == 2
    assert "neither repairgpt-guides/v1 JSON nor MyFixit JSON lines" in result.stderr


def test_prune_chats_deletes_only_history_past_retention(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_db_engine(normalize_database_url(database_url))
    migrate(engine)
    factory = build_session_factory(engine)
    old = datetime.now(UTC) - timedelta(days=400)
    with session_scope(factory) as session:
        stale, _ = create_chat_session(session=session, title="old")
        fresh, _ = create_chat_session(session=session, title="new")
        stale_id, fresh_id = stale.id, fresh.id
        for session_id, when in ((stale_id, old), (fresh_id, old), (fresh_id, None)):
            reply_id = record_exchange(
                session=session,
                exchange=Exchange(
                    session_id=session_id,
                    question="q",
                    answer="a",
                    citations=[],
                    language="en",
                    engine="offline",
                ),
            )
            if when is not None:  # age the exchange: its two messages and the session
                session.execute(
                    update(ChatMessage)
                    .where(ChatMessage.id.in_([reply_id - 1, reply_id]))
                    .values(created_at=when)
                )
                session.execute(
                    update(ChatSession)
                    .where(ChatSession.id == session_id)
                    .values(last_active_at=when)
                )
        session.execute(
            update(ChatSession)
            .where(ChatSession.id == fresh_id)
            .values(last_active_at=datetime.now(UTC))
        )

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["db", "prune-chats", "--older-than", "365d"]) == 0
    printed = capsys.readouterr()
    assert "deleted 4 chat messages and 1 chat sessions" in printed.err
    result = json.loads(printed.out)
    assert (result["messages_deleted"], result["sessions_deleted"]) == (4, 1)
    with factory() as session:
        remaining = session.scalars(select(ChatMessage.session_id)).all()
        assert remaining == [fresh_id, fresh_id]
        assert session.get(ChatSession, stale_id) is None
        assert session.get(ChatSession, fresh_id) is not None
    engine.dispose()


def test_durations_use_days_weeks_hours() -> None:
    assert parse_duration("365d") == timedelta(days=365)
    assert parse_duration("2w") == timedelta(weeks=2)
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("a year")


def test_passwords_never_reach_the_output(postgres_server: object, tmp_path: Path) -> None:
    port = postgres_server.port  # type: ignore[attr-defined]
    db = postgres_server.create_database("masking")  # type: ignore[attr-defined]
    url = db.replace("postgresql://postgres@", "postgresql://postgres:hunter2-s3cret@")
    result = _run("db", "migrate", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "hunter2-s3cret" not in result.stdout + result.stderr
    assert f"postgres:***@127.0.0.1:{port}" in result.stdout
    assert "hunter2" not in mask_dsn(normalize_database_url(url))
    assert scrub_secrets(f"could not connect to {url}") == (
        f"could not connect to {url.replace('hunter2-s3cret', '***')}"
    )
    assert "hunter2" not in str(Settings(database_url=url).describe())


def test_settings_default_to_embedded_services_and_ignore_empty_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    settings = Settings()
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path}/repairgpt.db"
    assert settings.redis_url is None and settings.s3_bucket is None
    assert settings.upload_folder == tmp_path / "uploads"
    assert settings.describe()["answer_engine"] == "offline"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert normalize_database_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


def test_the_backup_commands_are_offered_or_explained() -> None:
    try:
        import repairgpt.backup.commands  # noqa: F401
    except ImportError:
        result = _run("backup", env={})
        assert result.returncode == 2
        assert "backup commands are not available" in result.stderr
    else:
        result = _run("backup", "--help", env={})
        assert result.returncode == 0, result.stderr
        assert "create" in result.stdout and "restore" in result.stdout
