"""Chat: sessions with bearer tokens, grounded answers, history, and a Server-Sent Events stream."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from repairgpt.api.deps import BearerTokenDep, ContextDep, ReadSessionDep, SessionDep
from repairgpt.api.marks import Mark, mark
from repairgpt.api.problems import ProblemError, bearer_token_refused, problem_body
from repairgpt.schemas import (
    ChatAnswer,
    ChatMessageCreate,
    ChatMessagePublic,
    ChatMessagesPublic,
    ChatSessionCreate,
    ChatSessionCreated,
)
from repairgpt.services import chat as chat_service
from repairgpt.services import chat_sessions

log = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])

SessionId = Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]{32}$")]


@router.post(
    "/sessions",
    response_model=ChatSessionCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Start a chat session",
)
def create_session(
    session: SessionDep, body: ChatSessionCreate | None = None
) -> ChatSessionCreated:
    chat, token = chat_sessions.create_chat_session(
        session=session, title=body.title if body else None
    )
    session.commit()
    return ChatSessionCreated(id=chat.id, token=token, created_at=chat.created_at)


@contextmanager
def _refusals(session_id: str) -> Iterator[None]:
    """A missing session becomes a 404, a wrong or absent token a 401."""
    try:
        yield
    except chat_sessions.SessionNotFound:
        raise ProblemError(
            404, f"Chat session {session_id} does not exist.", slug="not-found"
        ) from None
    except chat_sessions.BadToken:
        raise bearer_token_refused(
            "This chat session needs 'Authorization: Bearer <token>' with the session's token."
        ) from None


@dataclass(frozen=True)
class Question:
    """A question asked in a chat session, with the bearer token that should open it."""

    session_id: str
    content: str
    token: str | None


async def asked_question(
    session_id: SessionId, message: ChatMessageCreate, token: BearerTokenDep
) -> Question:
    return Question(session_id=session_id, content=message.content, token=token)


QuestionDep = Annotated[Question, Depends(asked_question)]


@router.post(
    "/sessions/{session_id}/messages",
    response_model=ChatAnswer,
    summary="Ask a question in a session",
    description="Answers in the language of the question, citing the guides it used.",
)
@mark(Mark.ANSWERS_WHEN_READ_ONLY)
async def post_message(context: ContextDep, question: QuestionDep) -> Response:
    with _refusals(question.session_id):
        body = await chat_service.answer_message(
            context, session_id=question.session_id, question=question.content, token=question.token
        )
    # Already validated by construction: serialised once, not re-validated by the router.
    return Response(body.model_dump_json(), media_type="application/json")


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _events(
    pieces: AsyncIterator[str | ChatAnswer], session_id: str, instance: str
) -> AsyncIterator[str]:
    try:
        async for piece in pieces:
            if isinstance(piece, ChatAnswer):
                yield _sse("done", piece.model_dump(mode="json"))
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
@mark(Mark.ANSWERS_WHEN_READ_ONLY)
async def stream_message(context: ContextDep, question: QuestionDep) -> StreamingResponse:
    with _refusals(question.session_id):
        pieces = await chat_service.stream_answer(
            context, session_id=question.session_id, question=question.content, token=question.token
        )
    instance = f"/api/v1/chat/sessions/{question.session_id}/messages/stream"
    return StreamingResponse(
        _events(pieces, question.session_id, instance),
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
    with _refusals(session_id):
        chat_sessions.authenticate(session=session, session_id=session_id, token=token)
    rows = chat_sessions.list_messages(
        session=session, session_id=session_id, limit=limit, offset=offset
    )
    return ChatMessagesPublic(
        data=[ChatMessagePublic.model_validate(row) for row in rows], count=len(rows)
    )
