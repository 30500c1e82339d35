"""Answering a chat message: the session's token, retrieval, the answer engine, the stored exchange.

Every path gives the same answer; they differ in where the work runs. With an engine that ignores
history on PostgreSQL, one statement sent from the event loop checks the token and stores the
exchange. With the offline engine elsewhere, one worker thread does the whole exchange on one
connection. With a model, the database work and the model call run in separate threads, so no
pooled connection waits on the model.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import psycopg
from anyio import CancelScope, CapacityLimiter, to_thread
from psycopg_pool import PoolTimeout
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from repairgpt.schemas import ChatAnswer, CitationPublic
from repairgpt.services import chat_sessions
from repairgpt.services.chat_store import ChatStore
from repairgpt.services.engines import Answer
from repairgpt.services.retrieval import SearchHit, detect_language

if TYPE_CHECKING:
    from repairgpt.api.context import AppContext

log = logging.getLogger(__name__)

READ_ONLY_NOTE = "RepairGPT is in read-only mode: this answer was not saved to the session history."
NOT_SAVED_NOTE = "The database did not accept the write: this answer was not saved."
HITS_PER_ANSWER = 3


@dataclass(frozen=True)
class Grounding:
    """What the answer engine is given beside the question."""

    language: str
    hits: list[SearchHit]
    history: list[tuple[str, str]]


@dataclass(frozen=True)
class Stored:
    """Whether the exchange went into the session's history, and why not if it did not."""

    saved: bool
    note: str | None = None
    message_id: int | None = None


NOT_SAVED = Stored(False, NOT_SAVED_NOTE)


def _search(context: AppContext, question: str) -> tuple[str, list[SearchHit]]:
    language = detect_language(question)
    hits = context.catalog.snapshot.index.search(question, limit=HITS_PER_ANSWER, snippets=False)
    return language, hits


def _ground(
    context: AppContext, connection: Connection, session_id: str, question: str
) -> Grounding:
    language, hits = _search(context, question)
    past: list[tuple[str, str]] = []
    if context.answer_engine.uses_history:
        past = chat_sessions.history(
            session=connection, session_id=session_id, turns=context.settings.chat_history_turns
        )
    return Grounding(language, hits, past)


def _exchange(session_id: str, question: str, answer: Answer) -> chat_sessions.Exchange:
    return chat_sessions.Exchange(
        session_id=session_id,
        question=question,
        answer=answer.text,
        citations=[
            chat_sessions.CitationRecord(c.guide_id, c.source_id, c.title, c.url)
            for c in answer.citations
        ],
        language=answer.language,
        engine=answer.engine,
    )


def _store(
    context: AppContext, connection: Connection, session_id: str, question: str, answer: Answer
) -> Stored:
    """Store the exchange unless read-only; a failed write loses history, never the answer."""
    if context.settings.read_only_mode:
        return Stored(False, READ_ONLY_NOTE)
    try:
        message_id = chat_sessions.record_exchange(
            session=connection, exchange=_exchange(session_id, question, answer)
        )
        connection.commit()
    except DBAPIError as exc:
        # The answer is still worth giving: a replica or a failing primary only loses history.
        connection.rollback()
        log.warning("chat history not saved", extra={"error": type(exc.orig).__name__})
        return NOT_SAVED
    except chat_sessions.SessionNotFound:
        # Retention removed the session while its question was being answered.
        connection.rollback()
        log.warning("chat history not saved", extra={"error": "SessionNotFound"})
        return NOT_SAVED
    return Stored(True, None, message_id)


def _chat_answer(
    context: AppContext, session_id: str, answer: Answer, stored: Stored
) -> ChatAnswer:
    context.metrics.count_answer(answer.engine)
    return ChatAnswer(
        session_id=session_id,
        answer=answer.text,
        citations=[
            CitationPublic(guide_id=c.guide_id, source_id=c.source_id, title=c.title, url=c.url)
            for c in answer.citations
        ],
        language=answer.language,
        engine=answer.engine,
        saved=stored.saved,
        note=stored.note,
        message_id=stored.message_id,
    )


# The blocking steps below run in worker threads, each on a connection of its own.


def _check_token(context: AppContext, session_id: str, token: str | None) -> None:
    """Raises SessionNotFound or BadToken unless `token` opens the session."""
    with context.chat_db_engine.connect() as connection:
        chat_sessions.authenticate(session=connection, session_id=session_id, token=token)


def _authorised_grounding(
    context: AppContext, session_id: str, question: str, token: str | None
) -> Grounding:
    with context.chat_db_engine.connect() as connection:
        chat_sessions.authenticate(session=connection, session_id=session_id, token=token)
        return _ground(context, connection, session_id, question)


def _store_exchange(context: AppContext, session_id: str, question: str, answer: Answer) -> Stored:
    with context.chat_db_engine.connect() as connection:
        return _store(context, connection, session_id, question, answer)


def _offline_exchange(
    context: AppContext, session_id: str, question: str, token: str | None
) -> ChatAnswer:
    """A whole exchange with a local engine on one connection (SQLite, read-only mode)."""
    with context.chat_db_engine.connect() as connection:
        chat_sessions.authenticate(session=connection, session_id=session_id, token=token)
        grounding = _ground(context, connection, session_id, question)
        answer = context.answer_engine.answer(
            question, grounding.hits, language=grounding.language, history=grounding.history
        )
        stored = _store(context, connection, session_id, question, answer)
    return _chat_answer(context, session_id, answer, stored)


async def _stored_exchange(
    context: AppContext, store: ChatStore, session_id: str, question: str, token: str
) -> ChatAnswer:
    """`_offline_exchange` on the event loop: retrieval and the offline answer take well under
    a millisecond of CPU, and the one statement that checks the token and stores the exchange
    goes through the async pool. The slow paths (a refused token, a failing database) check
    the token through a thread, which tells a missing session from a wrong token."""
    if context.hybrid_search is None:
        language, hits = _search(context, question)
    else:
        # Hybrid search may wait on the embeddings endpoint: never on the event loop.
        language, hits = await to_thread.run_sync(_search, context, question)
    answer = context.answer_engine.answer(question, hits, language=language)

    async def check_token() -> None:
        await to_thread.run_sync(
            _check_token, context, session_id, token, limiter=context.db_limiter
        )

    try:
        ids = await store.record_authorised_exchange(
            exchange=_exchange(session_id, question, answer), token=token
        )
    except (psycopg.Error, PoolTimeout) as exc:
        # As on the threaded path: the answer is still worth giving once the token is checked.
        await check_token()
        log.warning("chat history not saved", extra={"error": type(exc).__name__})
        return _chat_answer(context, session_id, answer, NOT_SAVED)
    if not ids:
        await check_token()
        # The token is right, yet nothing was stored: the session was removed meanwhile.
        raise chat_sessions.SessionNotFound(session_id)
    return _chat_answer(context, session_id, answer, Stored(True, None, max(ids)))


async def _model_exchange(
    context: AppContext, session_id: str, question: str, token: str | None
) -> ChatAnswer:
    grounding = await to_thread.run_sync(
        _authorised_grounding, context, session_id, question, token, limiter=context.db_limiter
    )
    # A model endpoint may take seconds: no pooled connection is held meanwhile, and the
    # wait uses the model's own threads, never the ones other routes need.
    answer = await to_thread.run_sync(
        partial(
            context.answer_engine.answer,
            question,
            grounding.hits,
            language=grounding.language,
            history=grounding.history,
        ),
        limiter=context.llm_limiter,
    )
    stored = await to_thread.run_sync(
        _store_exchange, context, session_id, question, answer, limiter=context.db_limiter
    )
    return _chat_answer(context, session_id, answer, stored)


async def answer_message(
    context: AppContext, *, session_id: str, question: str, token: str | None
) -> ChatAnswer:
    """Answer `question` in the session and store the exchange.

    Raises SessionNotFound or BadToken when the token does not open the session.
    """
    engine = context.answer_engine
    store = context.chat_store
    if store is not None and token and not engine.uses_history and engine.name == "offline":
        return await _stored_exchange(context, store, session_id, question, token)
    if engine.name == "offline":
        # Database work runs in worker threads, at most as many at once as the pool has
        # connections; the rest wait on the event loop, which costs nothing.
        return await to_thread.run_sync(
            _offline_exchange, context, session_id, question, token, limiter=context.db_limiter
        )
    return await _model_exchange(context, session_id, question, token)


async def _in_threads(
    pieces: Iterator[str | Answer], limiter: CapacityLimiter
) -> AsyncIterator[str | Answer]:
    """The pieces of a blocking answer stream, each awaited in a thread under `limiter`."""
    try:
        while (piece := await to_thread.run_sync(next, pieces, None, limiter=limiter)) is not None:
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:  # ends the model's HTTP response if the client went away
            with CancelScope(shield=True):
                await to_thread.run_sync(close, limiter=limiter)


async def _answer_pieces(
    context: AppContext, session_id: str, question: str, grounding: Grounding
) -> AsyncIterator[str | ChatAnswer]:
    pieces = context.answer_engine.stream(
        question, grounding.hits, language=grounding.language, history=grounding.history
    )
    async for piece in _in_threads(pieces, context.llm_limiter):
        if isinstance(piece, Answer):
            stored = await to_thread.run_sync(
                _store_exchange, context, session_id, question, piece, limiter=context.db_limiter
            )
            yield _chat_answer(context, session_id, piece, stored)
            return
        yield piece


async def stream_answer(
    context: AppContext, *, session_id: str, question: str, token: str | None
) -> AsyncIterator[str | ChatAnswer]:
    """Pieces of the answer as the engine writes them, then the stored exchange's answer.

    The token is checked before this returns (raising SessionNotFound or BadToken), so a
    refusal is still an HTTP status rather than an event.
    """
    grounding = await to_thread.run_sync(
        _authorised_grounding, context, session_id, question, token, limiter=context.db_limiter
    )
    return _answer_pieces(context, session_id, question, grounding)
