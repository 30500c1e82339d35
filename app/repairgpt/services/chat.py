"""Chat sessions: unguessable bearer tokens stored hashed, history, and retention."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Integer, bindparam, delete, exists, insert, select, update
from sqlalchemy.orm import Session

from repairgpt.models import Base, ChatMessage, ChatSession, utcnow


def hash_token(token: str) -> str:
    # The token carries 256 bits of randomness, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(*, session: Session, title: str | None) -> tuple[ChatSession, str]:
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


def authenticate(*, session: Session, session_id: str, token: str | None) -> None:
    """Return if `token` opens the chat session; raises SessionNotFound or BadToken."""
    stored = session.scalar(_TOKEN_HASH, {"session_id": session_id})
    if stored is None:
        raise SessionNotFound(session_id)
    if not token or not hmac.compare_digest(stored, hash_token(token)):
        raise BadToken(session_id)


def history(*, session: Session, session_id: str, turns: int) -> list[tuple[str, str]]:
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


def record_exchange(
    *,
    session: Session,
    session_id: str,
    question: str,
    answer: str,
    citations: Sequence[CitationRecord],
    language: str,
    engine: str,
) -> int:
    """Store a question and its answer; returns the id of the stored answer.

    Raises IntegrityError if the session no longer exists (retention removed it meanwhile).
    Written with Core statements: this runs on every chat message and the ORM unit of work
    costs more than the two rows are worth.
    """
    now = utcnow()
    common: dict[str, Any] = {"session_id": session_id, "language": language}
    rows: list[dict[str, Any]] = [
        {**common, "role": "user", "content": question, "citations": [], "engine": None,
         "created_at": now},
        # A microsecond later so "newest first" is unambiguous even on coarse clocks.
        {**common, "role": "assistant", "content": answer, "engine": engine,
         "citations": [citation.__dict__ for citation in citations],
         "created_at": now + timedelta(microseconds=1)},
    ]  # fmt: skip
    ids = session.execute(_INSERT_MESSAGES, rows).scalars().all()
    session.execute(_TOUCH_SESSION, {"session_id": session_id, "now": now})
    return int(max(ids))


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
