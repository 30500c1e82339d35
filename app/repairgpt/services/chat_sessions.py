"""Chat sessions: unguessable bearer tokens stored hashed, the history of each, and retention."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    DateTime,
    Integer,
    bindparam,
    delete,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from repairgpt.models import Base, ChatMessage, ChatSession, utcnow


def hash_token(token: str) -> str:
    # The token carries 256 bits of randomness, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(token.encode()).hexdigest()


def create_chat_session(*, session: Session, title: str | None) -> tuple[ChatSession, str]:
    """A new chat session and its bearer token (returned once, never stored in clear)."""
    token = secrets.token_urlsafe(32)
    chat = ChatSession(token_hash=hash_token(token), title=title)
    session.add(chat)
    session.flush()
    return chat, token


class SessionNotFound(LookupError):
    pass


class BadToken(PermissionError):
    pass


# The per-message functions take an ORM session or a plain Core connection: the chat route
# uses a connection, which spares the ORM's bookkeeping on every message.
Executor = Session | Connection


def _dialect_name(executor: Executor) -> str:
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    return bind.dialect.name


# The statements of the per-message path are built once: constructing them costs more CPU
# than executing them on a warm connection.
_MESSAGES = Base.metadata.tables["chat_messages"]
_SESSIONS = Base.metadata.tables["chat_sessions"]
_TOKEN_HASH = select(_SESSIONS.c.token_hash).where(_SESSIONS.c.id == bindparam("session_id"))
_LAST_MESSAGES = (
    select(_MESSAGES.c.role, _MESSAGES.c.content)
    .where(_MESSAGES.c.session_id == bindparam("session_id"))
    .order_by(_MESSAGES.c.created_at.desc(), _MESSAGES.c.id.desc())
    .limit(bindparam("turns", type_=Integer))
)
_INSERT_MESSAGES = insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True)
_TOUCH_SESSION = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"))
    .values(last_active_at=bindparam("now"))
)


def _record_exchange_pg(session_condition: str) -> TextClause:
    # On PostgreSQL the whole exchange is one statement, atomic on its own: it touches the
    # session and stores both messages only if the session matches, in one round trip. The
    # user's row comes first so ids ascend in conversation order.
    return text(
        f"""
        WITH touched AS (
            UPDATE chat_sessions SET last_active_at = :now
            WHERE {session_condition}
            RETURNING id
        )
        INSERT INTO chat_messages
            (session_id, role, content, citations, language, engine, created_at)
        SELECT touched.id, m.role, m.content, CAST(m.citations AS JSON), :language, m.engine,
               m.created_at
        FROM touched CROSS JOIN (VALUES
            (1, 'user', :question, '[]', NULL, :now),
            (2, 'assistant', :answer, :citations, :engine, :answered_at)
        ) AS m (position, role, content, citations, engine, created_at)
        ORDER BY m.position
        RETURNING id
        """
    ).bindparams(
        bindparam("now", type_=DateTime(timezone=True)),
        bindparam("answered_at", type_=DateTime(timezone=True)),
    )


_RECORD_EXCHANGE_PG = _record_exchange_pg("id = :session_id")
# Run by `chat_store.ChatStore`: the bearer token is checked by the statement that stores the
# exchange (equality of SHA-256 hashes of 256-bit random tokens, where timing tells an attacker
# nothing usable).
RECORD_AUTHORISED_EXCHANGE_PG = _record_exchange_pg("id = :session_id AND token_hash = :token_hash")


def authenticate(*, session: Executor, session_id: str, token: str | None) -> None:
    """Return if `token` opens the chat session; raises SessionNotFound or BadToken."""
    stored = session.scalar(_TOKEN_HASH, {"session_id": session_id})
    if stored is None:
        raise SessionNotFound(session_id)
    if not token or not hmac.compare_digest(stored, hash_token(token)):
        raise BadToken(session_id)


def history(*, session: Executor, session_id: str, turns: int) -> list[tuple[str, str]]:
    """The last `turns` messages as (role, content), oldest first, for the answer engine."""
    if turns <= 0:
        return []
    rows = session.execute(_LAST_MESSAGES, {"session_id": session_id, "turns": turns}).all()
    return [(role, content) for role, content in reversed(rows)]


def list_messages(
    *, session: Session, session_id: str, limit: int, offset: int
) -> list[ChatMessage]:
    return list(
        session.scalars(
            select(ChatMessage)
            .where(ChatMessage.session_id == session_id)
            .order_by(ChatMessage.created_at, ChatMessage.id)
            .limit(limit)
            .offset(offset)
        )
    )


@dataclass(frozen=True)
class CitationRecord:
    guide_id: int
    source_id: str | None
    title: str
    url: str | None


@dataclass(frozen=True)
class Exchange:
    """A question and its answer, as they go into a session's history."""

    session_id: str
    question: str
    answer: str
    citations: Sequence[CitationRecord]
    language: str
    engine: str


def exchange_params(exchange: Exchange) -> dict[str, Any]:
    now = utcnow()
    return {
        "session_id": exchange.session_id,
        "now": now,
        # A microsecond later so "newest first" is unambiguous even on coarse clocks.
        "answered_at": now + timedelta(microseconds=1),
        "question": exchange.question,
        "answer": exchange.answer,
        "citations": [citation.__dict__ for citation in exchange.citations],
        "language": exchange.language,
        "engine": exchange.engine,
    }


def _record_pg(session: Executor, statement: TextClause, params: dict[str, Any]) -> list[int]:
    values = {**params, "citations": json.dumps(params["citations"], ensure_ascii=False)}
    return [int(i) for i in session.execute(statement, values).scalars().all()]


def _record_in_two_statements(session: Executor, params: dict[str, Any]) -> list[int]:
    touched = cast(
        CursorResult[Any],
        session.execute(_TOUCH_SESSION, {"session_id": params["session_id"], "now": params["now"]}),
    )
    if not touched.rowcount:
        return []
    common = {"session_id": params["session_id"], "language": params["language"]}
    rows: list[dict[str, Any]] = [
        {**common, "role": "user", "content": params["question"], "citations": [],
         "engine": None, "created_at": params["now"]},
        {**common, "role": "assistant", "content": params["answer"],
         "citations": params["citations"], "engine": params["engine"],
         "created_at": params["answered_at"]},
    ]  # fmt: skip
    return [int(i) for i in session.execute(_INSERT_MESSAGES, rows).scalars().all()]


def record_exchange(*, session: Executor, exchange: Exchange) -> int:
    """Store a question and its answer and touch the session; returns the stored answer's id.

    Raises SessionNotFound if the session no longer exists (retention removed it meanwhile).
    Written with Core statements: this runs on every chat message and the ORM unit of work
    costs more than the two rows are worth. The caller commits.
    """
    params = exchange_params(exchange)
    if _dialect_name(session) == "postgresql":
        ids = _record_pg(session, _RECORD_EXCHANGE_PG, params)
    else:
        ids = _record_in_two_statements(session, params)
    if not ids:
        raise SessionNotFound(exchange.session_id)
    return max(ids)


def retention_cutoff(older_than: timedelta, *, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - older_than


def prune_chats(*, session: Session, cutoff: datetime) -> tuple[int, int]:
    """Delete messages older than `cutoff` and sessions left idle and empty since then.

    Returns (messages deleted, sessions deleted).
    """
    messages = cast(
        CursorResult[Any],
        session.execute(delete(ChatMessage).where(ChatMessage.created_at < cutoff)),
    )
    has_messages = exists().where(ChatMessage.session_id == ChatSession.id)
    sessions = cast(
        CursorResult[Any],
        session.execute(
            delete(ChatSession).where(ChatSession.last_active_at < cutoff, ~has_messages)
        ),
    )
    return int(messages.rowcount or 0), int(sessions.rowcount or 0)


def parse_duration(text: str) -> timedelta:
    """'365d', '12h', '30m', '90s' or '2w' as a timedelta; raises ValueError otherwise."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value = text.strip().lower()
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise ValueError(f"invalid duration {text!r}: use a number and one of s, m, h, d, w")
    return timedelta(**{units[value[-1]]: int(value[:-1])})
