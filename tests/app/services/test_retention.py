"""Chat retention: old history goes in short transactions, recent history stays."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, insert, select, text

from repairgpt.cli import main
from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import create_db_engine, migrate
from repairgpt.models import ChatMessage, ChatSession
from repairgpt.services.retention import count_prunable, prune_chat_history
from tests.utils.chat_history import HistoryShape, seed_chat_history

# The longest transaction (and so the longest any row lock is held) a prune may keep open.
MAX_LOCK_SECONDS = 1.0

_OPEN_PRUNE_TRANSACTION = text(
    "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0) "
    "FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() "
    "AND xact_start IS NOT NULL AND query LIKE 'DELETE FROM chat_%'"
)


class TransactionWatch(threading.Thread):
    """From a second connection, the age of the oldest open transaction of a DELETE on the
    chat tables, polled every few milliseconds: how long the prune held its row locks."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.longest = 0.0
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with self.engine.connect() as connection:
            while not self.stop.is_set():
                # Each poll is its own transaction, so pg_stat_activity is read afresh.
                age = float(connection.execute(_OPEN_PRUNE_TRANSACTION).scalar() or 0)
                self.longest = max(self.longest, age)
                self.samples += 1
                time.sleep(0.005)

    def __enter__(self) -> TransactionWatch:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.join(timeout=10)
        self.engine.dispose()


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        messages = connection.execute(select(func.count()).select_from(ChatMessage)).scalar()
        sessions = connection.execute(select(func.count()).select_from(ChatSession)).scalar()
    return int(messages or 0), int(sessions or 0)


def test_prune_of_120k_messages_deletes_old_history_without_holding_locks_for_a_second(
    postgres_url: str,
) -> None:
    url = normalize_database_url(postgres_url)
    engine = create_db_engine(url)
    migrate(engine)
    shape = HistoryShape()
    seed_chat_history(engine, shape)
    assert _counts(engine) == (shape.total_messages, shape.total_sessions)
    assert shape.total_messages >= 100_000
    cutoff = datetime.now(UTC) - timedelta(days=365)
    assert count_prunable(engine, cutoff).messages_deleted == shape.old_messages

    with TransactionWatch(url) as watch:
        result = prune_chat_history(engine, cutoff=cutoff, batch_size=5000)

    print(
        f"\npruned {result.messages_deleted} messages and {result.sessions_deleted} sessions of "
        f"{shape.total_messages} messages in {result.batches} batches, {result.seconds:.2f} s; "
        f"longest transaction: {result.max_batch_seconds * 1000:.1f} ms timed by the prune, "
        f"{watch.longest * 1000:.1f} ms seen from pg_stat_activity ({watch.samples} samples)"
    )
    assert result.messages_deleted == shape.old_messages
    assert result.sessions_deleted == shape.old_sessions
    assert _counts(engine) == (
        shape.total_messages - shape.old_messages,
        shape.total_sessions - shape.old_sessions,
    )
    with engine.connect() as connection:
        oldest = connection.execute(select(func.min(ChatMessage.created_at))).scalar()
        kinds = dict(
            connection.execute(
                select(ChatSession.title, func.count()).group_by(ChatSession.title)
            ).all()
        )
        analyzed = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL "
                "AND relname IN ('chat_messages', 'chat_sessions')"
            )
        ).scalar()
    assert oldest is not None and oldest >= cutoff
    # Mixed sessions keep their recent half; empty sessions go only once idle past retention.
    assert kinds == {"mixed": shape.mixed, "recent": shape.recent, "empty_recent": 200}
    assert analyzed == 2 and result.analyzed == ["chat_messages", "chat_sessions"]
    assert result.batches >= shape.total_messages // 5000
    assert watch.samples > 10
    assert result.max_batch_seconds < MAX_LOCK_SECONDS
    assert watch.longest < MAX_LOCK_SECONDS
    # A second run finds nothing left to delete.
    again = prune_chat_history(engine, cutoff=cutoff)
    assert again.rows_deleted == 0
    engine.dispose()


def test_prune_chats_command_prints_and_writes_a_json_result(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    engine = create_db_engine(normalize_database_url(database_url))
    migrate(engine)
    old = datetime.now(UTC) - timedelta(days=400)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for index, (idle_since, message_times) in enumerate(
            [(old, [old] * 3), (now, [old, old, now]), (old, []), (now, [])]
        ):
            session_id = f"s{index}"
            connection.execute(
                insert(ChatSession).values(
                    id=session_id, token_hash=f"h{index}", created_at=old, last_active_at=idle_since
                )
            )
            for when in message_times:
                connection.execute(
                    insert(ChatMessage).values(
                        session_id=session_id,
                        role="user",
                        content="q",
                        citations=[],
                        created_at=when,
                    )
                )
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert main(["db", "prune-chats", "--older-than-days", "365", "--dry-run"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["dry_run"] is True
    assert (planned["messages_deleted"], planned["sessions_deleted"]) == (5, 2)
    assert _counts(engine) == (6, 4)

    result_file = tmp_path / "termination-log"
    args = ["--older-than-days", "365", "--batch-size", "2", "--result-file", str(result_file)]
    assert main(["db", "prune-chats", *args]) == 0
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    assert printed.out.count("\n") == 1
    assert json.loads(result_file.read_text()) == result
    assert (result["messages_deleted"], result["sessions_deleted"], result["rows_deleted"]) == (
        5,
        2,
        7,
    )
    assert result["batches"] >= 3  # 5 old messages, 2 ids per transaction
    assert set(result) >= {"seconds", "max_batch_seconds", "cutoff"}
    assert "deleted 5 chat messages and 2 chat sessions" in printed.err
    with engine.connect() as connection:
        left = connection.execute(select(ChatSession.id).order_by(ChatSession.id)).scalars().all()
    assert left == ["s1", "s3"]
    assert _counts(engine) == (1, 2)
    engine.dispose()


def test_prune_chats_refuses_a_bad_age(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["db", "prune-chats", "--older-than-days", "0"]) == 2
    assert "--older-than-days must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["db", "prune-chats", "--older-than-days", "3", "--older-than", "3d"])
