"""Chat: sessions with bearer tokens, grounded answers, history, and a Server-Sent Events stream."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Annotated, Any

import psycopg
from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from psycopg_pool import PoolTimeout
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from repairgpt.api.context import AppContext
from repairgpt.api.deps import BearerTokenDep, ContextDep, ReadSessionDep, SessionDep
from repairgpt.api.problems import ProblemError, problem_body
from repairgpt.schemas import (
    ChatAnswer,
    ChatMessageCreate,
    ChatMessagePublic,
    ChatMessagesPublic,
    ChatSessionCreate,
    ChatSessionCreated,
    CitationPublic,
)
from repairgpt.services import chat as chat_service
from repairgpt.services.answer import Answer
from repairgpt.services.chat_store import ChatStore
from repairgpt.services.retrieval import SearchHit, detect_language

log = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])

SessionId = Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]{32}$")]
READ_ONLY_NOTE = "RepairGPT is in read-only mode: this answer was not saved to the session history."
NOT_SAVED_NOTE = "The database did not accept the write: this answer was not saved."
HITS_PER_ANSWER = 3


@router.post(
    "/sessions",
    response_model=ChatSessionCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Start a chat session",
)
def create_session(
    session: SessionDep, body: ChatSessionCreate | None = None
) -> ChatSessionCreated:
    chat, token = chat_service.create_session(session=session, title=body.title if body else None)
    session.commit()
    return ChatSessionCreated(id=chat.id, token=token, created_at=chat.created_at)


def _refusal(
    error: chat_service.SessionNotFound | chat_service.BadToken, session_id: str
) -> ProblemError:
    if isinstance(error, chat_service.SessionNotFound):
        return ProblemError(404, f"Chat session {session_id} does not exist.", slug="not-found")
    return ProblemError(
        401,
        "This chat session needs 'Authorization: Bearer <token>' with the session's token.",
        slug="invalid-token",
        headers={"WWW-Authenticate": 'Bearer realm="repairgpt"'},
    )


def _open_session(session: chat_service.Executor, session_id: str, token: str | None) -> None:
    try:
        chat_service.authenticate(session=session, session_id=session_id, token=token)
    except (chat_service.SessionNotFound, chat_service.BadToken) as error:
        raise _refusal(error, session_id) from None


def _prepare(
    context: AppContext, connection: Connection, session_id: str, content: str
) -> tuple[str, list[SearchHit], list[tuple[str, str]]]:
    language = detect_language(content)
    hits = context.catalog.snapshot.index.search(content, limit=HITS_PER_ANSWER, snippets=False)
    past: list[tuple[str, str]] = []
    if context.answer_engine.uses_history:
        past = chat_service.history(
            session=connection, session_id=session_id, turns=context.settings.chat_history_turns
        )
    return language, hits, past


def _fields(question: str, answer: Answer) -> dict[str, Any]:
    return {
        "question": question,
        "answer": answer.text,
        "citations": [
            chat_service.CitationRecord(c.guide_id, c.source_id, c.title, c.url)
            for c in answer.citations
        ],
        "language": answer.language,
        "engine": answer.engine,
    }


def _save(
    context: AppContext, connection: Connection, session_id: str, question: str, answer: Answer
) -> tuple[bool, str | None, int | None]:
    """Store the exchange unless read-only; returns (saved, note, message id)."""
    if context.settings.read_only_mode:
        return False, READ_ONLY_NOTE, None
    try:
        message_id = chat_service.record_exchange(
            session=connection, session_id=session_id, **_fields(question, answer)
        )
        connection.commit()
    except DBAPIError as exc:
        # The answer is still worth giving: a replica or a failing primary only loses history.
        connection.rollback()
        log.warning("chat history not saved", extra={"error": type(exc.orig).__name__})
        return False, NOT_SAVED_NOTE, None
    except chat_service.SessionNotFound:
        # Retention removed the session while its question was being answered.
        connection.rollback()
        log.warning("chat history not saved", extra={"error": "SessionNotFound"})
        return False, NOT_SAVED_NOTE, None
    return True, None, message_id


def _answer_body(
    context: AppContext,
    session_id: str,
    answer: Answer,
    saved: bool,
    note: str | None,
    message_id: int | None,
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
        saved=saved,
        note=note,
        message_id=message_id,
    )


def _json(body: ChatAnswer) -> Response:
    # Already validated by construction: serialised once, not re-validated by the router.
    return Response(body.model_dump_json(), media_type="application/json")


def _offline_exchange(
    context: AppContext, session_id: str, question: str, token: str | None
) -> ChatAnswer:
    """A whole exchange with a local engine on one connection; runs in a worker thread.

    The path of SQLite and read-only mode; on PostgreSQL `_stored_exchange` does the same
    from the event loop, checking the token in the statement that stores the exchange.
    """
    with context.chat_engine.connect() as connection:
        _open_session(connection, session_id, token)
        language, hits, past = _prepare(context, connection, session_id, question)
        answer = context.answer_engine.answer(question, hits, language=language, history=past)
        saved, note, message_id = _save(context, connection, session_id, question, answer)
    return _answer_body(context, session_id, answer, saved, note, message_id)


def _check_token(context: AppContext, session_id: str, token: str | None) -> None:
    with context.chat_engine.connect() as connection:
        _open_session(connection, session_id, token)


async def _stored_exchange(
    context: AppContext, store: ChatStore, session_id: str, question: str, token: str
) -> ChatAnswer:
    """`_offline_exchange` on the event loop: retrieval and the offline answer take well under
    a millisecond of CPU, and the one statement that checks the token and stores the exchange
    goes through the async pool. The slow paths (a refused token, a failing database) check
    the token through the threaded path, which tells 401 from 404."""
    language = detect_language(question)
    hits = context.catalog.snapshot.index.search(question, limit=HITS_PER_ANSWER, snippets=False)
    answer = context.answer_engine.answer(question, hits, language=language)
    try:
        ids = await store.record_authorised_exchange(
            session_id=session_id, token=token, **_fields(question, answer)
        )
    except (psycopg.Error, PoolTimeout) as exc:
        # As on the threaded path: the answer is still worth giving once the token is checked.
        await to_thread.run_sync(
            _check_token, context, session_id, token, limiter=context.db_limiter
        )
        log.warning("chat history not saved", extra={"error": type(exc).__name__})
        return _answer_body(context, session_id, answer, False, NOT_SAVED_NOTE, None)
    if not ids:
        await to_thread.run_sync(
            _check_token, context, session_id, token, limiter=context.db_limiter
        )
        # The token is right, yet nothing was stored: the session was removed meanwhile.
        raise _refusal(chat_service.SessionNotFound(session_id), session_id)
    return _answer_body(context, session_id, answer, True, None, max(ids))


def _authorised_prepare(
    context: AppContext, session_id: str, question: str, token: str | None
) -> tuple[str, list[SearchHit], list[tuple[str, str]]]:
    with context.chat_engine.connect() as connection:
        _open_session(connection, session_id, token)
        return _prepare(context, connection, session_id, question)


def _save_exchange(
    context: AppContext, session_id: str, question: str, answer: Answer
) -> tuple[bool, str | None, int | None]:
    with context.chat_engine.connect() as connection:
        return _save(context, connection, session_id, question, answer)


@router.post(
    "/sessions/{session_id}/messages",
    response_model=ChatAnswer,
    summary="Ask a question in a session",
    description="Answers in the language of the question, citing the guides it used.",
)
async def post_message(
    context: ContextDep,
    session_id: SessionId,
    message: ChatMessageCreate,
    token: BearerTokenDep,
) -> Response:
    # Database work runs in worker threads, at most as many at once as the pool has
    # connections; the rest wait here, on the event loop, which costs nothing.
    question = message.content
    limiter = context.db_limiter
    store = context.chat_store
    if (
        store is not None
        and token
        and not context.answer_engine.uses_history
        and context.answer_engine.name == "offline"
    ):
        return _json(await _stored_exchange(context, store, session_id, question, token))
    if context.answer_engine.name == "offline":
        body = await to_thread.run_sync(
            _offline_exchange, context, session_id, question, token, limiter=limiter
        )
        return _json(body)
    language, hits, past = await to_thread.run_sync(
        _authorised_prepare, context, session_id, question, token, limiter=limiter
    )
    # A model endpoint may take seconds: no pooled connection is held meanwhile, and the
    # wait uses the model's own threads, never the ones other routes need.
    answer = await to_thread.run_sync(
        partial(context.answer_engine.answer, question, hits, language=language, history=past),
        limiter=context.llm_limiter,
    )
    saved, note, message_id = await to_thread.run_sync(
        _save_exchange, context, session_id, question, answer, limiter=limiter
    )
    return _json(_answer_body(context, session_id, answer, saved, note, message_id))


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


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/sessions/{session_id}/messages/stream",
    summary="Ask a question and stream the answer (Server-Sent Events)",
    description=(
        'Events: `delta` with `{"text": ...}` pieces of the answer, then one `done` with the '
        "same body as the non-streaming endpoint (citations, language, saved, ...)."
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_message(
    context: ContextDep,
    session_id: SessionId,
    message: ChatMessageCreate,
    token: BearerTokenDep,
) -> StreamingResponse:
    question = message.content
    language, hits, past = await to_thread.run_sync(
        _authorised_prepare, context, session_id, question, token, limiter=context.db_limiter
    )
    instance = f"/api/v1/chat/sessions/{session_id}/messages/stream"

    async def events() -> AsyncIterator[str]:
        pieces = context.answer_engine.stream(question, hits, language=language, history=past)
        try:
            async for piece in _in_threads(pieces, context.llm_limiter):
                if isinstance(piece, Answer):
                    saved, note, message_id = await to_thread.run_sync(
                        _save_exchange,
                        context,
                        session_id,
                        question,
                        piece,
                        limiter=context.db_limiter,
                    )
                    body = _answer_body(context, session_id, piece, saved, note, message_id)
                    yield _sse("done", body.model_dump(mode="json"))
                    return
                yield _sse("delta", {"text": piece})
        except Exception:  # noqa: BLE001 - the status line is gone; report in-band instead
            log.exception("chat stream failed", extra={"session_id": session_id})
            yield _sse(
                "error",
                problem_body(
                    status=500, detail="The answer could not be completed.", instance=instance
                ),
            )

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/sessions/{session_id}/messages",
    response_model=ChatMessagesPublic,
    summary="The session's history, oldest first",
)
def list_messages(
    session: ReadSessionDep,
    session_id: SessionId,
    token: BearerTokenDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ChatMessagesPublic:
    _open_session(session, session_id, token)
    rows = chat_service.list_messages(
        session=session, session_id=session_id, limit=limit, offset=offset
    )
    return ChatMessagesPublic(
        data=[ChatMessagePublic.model_validate(row) for row in rows], count=len(rows)
    )
