"""Chat history retention: delete old messages and idle empty sessions in short transactions.

Each DELETE covers a bounded slice of a primary key (a range of message ids, a window of
session ids), so no statement holds row locks or keeps a snapshot open for long, whatever the
size of the history; ANALYZE then refreshes the planner's statistics of both tables.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, TextClause, bindparam, text

from repairgpt.models import UtcDateTime

DEFAULT_BATCH_SIZE = 5_000
TABLES = ("chat_messages", "chat_sessions")


def _sql(statement: str) -> TextClause:
    clause = text(statement)
    if ":cutoff" in statement:
        # Bound as the columns are stored (UTC; SQLite keeps them as text without a zone).
        clause = clause.bindparams(bindparam("cutoff", type_=UtcDateTime()))
    return clause


_OLD_MESSAGE_IDS = _sql("SELECT min(id), max(id) FROM chat_messages WHERE created_at < :cutoff")
_DELETE_MESSAGES = _sql(
    "DELETE FROM chat_messages WHERE id >= :low AND id < :high AND created_at < :cutoff"
)
# The upper end of the next window of session ids (ids are random strings, not a sequence).
_SESSION_WINDOW_END = _sql(
    "SELECT max(id) FROM (SELECT id FROM chat_sessions WHERE id > :after "
    "ORDER BY id LIMIT :size) AS window_ids"
)
# As before the batching: sessions idle since before the cutoff and left without messages.
_DELETE_SESSIONS = _sql(
    "DELETE FROM chat_sessions WHERE id > :after AND id <= :upto "
    "AND last_active_at < :cutoff AND NOT EXISTS "
    "(SELECT 1 FROM chat_messages WHERE chat_messages.session_id = chat_sessions.id)"
)
_COUNT_MESSAGES = _sql("SELECT count(*) FROM chat_messages WHERE created_at < :cutoff")
_COUNT_SESSIONS = _sql(
    "SELECT count(*) FROM chat_sessions WHERE last_active_at < :cutoff AND NOT EXISTS "
    "(SELECT 1 FROM chat_messages WHERE chat_messages.session_id = chat_sessions.id "
    "AND chat_messages.created_at >= :cutoff)"
)


@dataclass
class PruneResult:
    """What one prune did; `max_batch_seconds` is the longest transaction that held locks."""

    cutoff: str
    messages_deleted: int = 0
    sessions_deleted: int = 0
    batches: int = 0
    seconds: float = 0.0
    max_batch_seconds: float = 0.0
    analyzed: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rows_deleted(self) -> int:
        return self.messages_deleted + self.sessions_deleted

    def as_json(self) -> dict[str, Any]:
        """The one-line result the command prints (and the operator reads)."""
        data = asdict(self)
        data["rows_deleted"] = self.rows_deleted
        data["seconds"] = round(self.seconds, 3)
        data["max_batch_seconds"] = round(self.max_batch_seconds, 4)
        return data


def _timed_batch(
    engine: Engine, result: PruneResult, statement: TextClause, params: dict[str, Any]
) -> int:
    """Run one DELETE in a transaction of its own; record how long it held its locks."""
    started = time.monotonic()
    with engine.begin() as connection:
        cursor = cast(CursorResult[Any], connection.execute(statement, params))
        deleted = int(cursor.rowcount or 0)
    elapsed = time.monotonic() - started
    result.batches += 1
    result.max_batch_seconds = max(result.max_batch_seconds, elapsed)
    return deleted


def _prune_messages(engine: Engine, cutoff: datetime, batch_size: int, result: PruneResult) -> None:
    with engine.connect() as connection:
        low, high = connection.execute(_OLD_MESSAGE_IDS, {"cutoff": cutoff}).one()
    if low is None:
        return
    for start in range(int(low), int(high) + 1, batch_size):
        params = {"low": start, "high": start + batch_size, "cutoff": cutoff}
        result.messages_deleted += _timed_batch(engine, result, _DELETE_MESSAGES, params)


def _prune_sessions(engine: Engine, cutoff: datetime, batch_size: int, result: PruneResult) -> None:
    after = ""
    while True:
        with engine.connect() as connection:
            upto = connection.execute(
                _SESSION_WINDOW_END, {"after": after, "size": batch_size}
            ).scalar()
        if upto is None:
            return
        params = {"after": after, "upto": upto, "cutoff": cutoff}
        result.sessions_deleted += _timed_batch(engine, result, _DELETE_SESSIONS, params)
        after = str(upto)


def analyze(engine: Engine) -> list[str]:
    """Refresh the planner statistics of the chat tables (outside any transaction)."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in TABLES:
            connection.execute(text(f"ANALYZE {table}"))
    return list(TABLES)


def count_prunable(engine: Engine, cutoff: datetime) -> PruneResult:
    """What a prune at `cutoff` would delete, without deleting anything."""
    with engine.connect() as connection:
        messages = int(connection.execute(_COUNT_MESSAGES, {"cutoff": cutoff}).scalar() or 0)
        sessions = int(connection.execute(_COUNT_SESSIONS, {"cutoff": cutoff}).scalar() or 0)
    return PruneResult(
        cutoff=_iso(cutoff), messages_deleted=messages, sessions_deleted=sessions, dry_run=True
    )


def prune_chat_history(
    engine: Engine, *, cutoff: datetime, batch_size: int = DEFAULT_BATCH_SIZE
) -> PruneResult:
    """Delete messages created before `cutoff`, then sessions idle since before it that have no
    messages left, `batch_size` primary keys per transaction; then ANALYZE both tables."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.monotonic()
    result = PruneResult(cutoff=_iso(cutoff))
    _prune_messages(engine, cutoff, batch_size, result)
    _prune_sessions(engine, cutoff, batch_size, result)
    result.analyzed = analyze(engine)
    result.seconds = time.monotonic() - started
    return result


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
