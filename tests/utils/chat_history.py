"""A large chat history in PostgreSQL, written with set-based SQL (seconds for 100k messages).

Sessions come in kinds, shuffled so that old and recent messages interleave in id order:
`old` (every message and the session idle past retention), `mixed` (half its messages past
retention, active recently), `recent`, and sessions without messages, `empty_old` and
`empty_recent`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

OLD_DAYS = 400
RECENT_DAYS = 10


@dataclass(frozen=True)
class HistoryShape:
    old: int = 3000
    mixed: int = 2000
    recent: int = 1000
    empty_old: int = 500
    empty_recent: int = 200
    messages_per_session: int = 20

    @property
    def old_messages(self) -> int:
        per_session = self.messages_per_session
        return self.old * per_session + self.mixed * (per_session // 2)

    @property
    def total_messages(self) -> int:
        return (self.old + self.mixed + self.recent) * self.messages_per_session

    @property
    def old_sessions(self) -> int:
        return self.old + self.empty_old

    @property
    def total_sessions(self) -> int:
        return self.old + self.mixed + self.recent + self.empty_old + self.empty_recent


_SESSIONS = text(
    """
    INSERT INTO chat_sessions (id, token_hash, title, created_at, last_active_at)
    SELECT md5(kind || n), md5('token' || kind || n), kind,
           now() - make_interval(days => age + 1),
           now() - make_interval(days => age)
    FROM (VALUES ('old', :old, :old_days), ('mixed', :mixed, :recent_days),
                 ('recent', :recent, :recent_days), ('empty_old', :empty_old, :old_days),
                 ('empty_recent', :empty_recent, :recent_days)) AS kinds(kind, count, age),
         generate_series(1, count) AS n
    ORDER BY random()
    """
)
# One message row per (session, position); a mixed session's first half is old.
_MESSAGES = text(
    """
    INSERT INTO chat_messages (session_id, role, content, citations, language, engine, created_at)
    SELECT s.id, CASE WHEN p % 2 = 0 THEN 'user' ELSE 'assistant' END,
           repeat('My Switch Joy-Con drifts. ', 4), '[]', 'en', 'offline',
           now() - make_interval(days => CASE
               WHEN s.title = 'old' OR (s.title = 'mixed' AND p < :half) THEN :old_days
               ELSE :recent_days END, secs => p)
    FROM chat_sessions AS s, generate_series(0, :per_session - 1) AS p
    WHERE s.title IN ('old', 'mixed', 'recent')
    ORDER BY random()
    """
)


def seed_chat_history(engine: Engine, shape: HistoryShape = HistoryShape()) -> None:
    """Write the sessions and messages of `shape` (the schema must exist)."""
    with engine.begin() as connection:
        connection.execute(
            _SESSIONS,
            {
                "old": shape.old,
                "mixed": shape.mixed,
                "recent": shape.recent,
                "empty_old": shape.empty_old,
                "empty_recent": shape.empty_recent,
                "old_days": OLD_DAYS,
                "recent_days": RECENT_DAYS,
            },
        )
        connection.execute(
            _MESSAGES,
            {
                "half": shape.messages_per_session // 2,
                "per_session": shape.messages_per_session,
                "old_days": OLD_DAYS,
                "recent_days": RECENT_DAYS,
            },
        )
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE chat_messages")
        )
