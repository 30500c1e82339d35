"""Annotated dependencies shared by the routes: the app context, a DB session, the admin key."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from repairgpt.api.context import AppContext
from repairgpt.api.problems import ProblemError


async def get_context(request: Request) -> AppContext:
    # async on purpose: a plain def dependency costs a thread-pool hop on every request.
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    session = context.session_factory()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def get_read_session(context: ContextDep) -> Iterator[Session]:
    """A session for a request that only reads: served from the replica while the primary
    cannot be reached (see repairgpt.core.reads)."""
    session = context.reads.open()
    try:
        yield session
    finally:
        session.close()


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


async def require_admin(
    context: ContextDep,
    x_api_key: Annotated[str | None, Header(description="The server's ADMIN_API_KEY.")] = None,
) -> None:
    """Guide writes need X-API-Key; with no key configured they are switched off entirely."""
    configured = context.settings.admin_api_key
    if configured is None:
        raise ProblemError(
            403,
            "Guide writes are disabled on this server because ADMIN_API_KEY is not set.",
            slug="admin-key-not-configured",
        )
    if not x_api_key:
        raise ProblemError(401, "This request needs the X-API-Key header.", slug="api-key-required")
    if not hmac.compare_digest(x_api_key.encode(), configured.get_secret_value().encode()):
        raise ProblemError(403, "The X-API-Key header is not valid.", slug="api-key-invalid")


AdminDep = Depends(require_admin)


async def bearer_token(
    authorization: Annotated[str | None, Header(description="Bearer <chat session token>")] = None,
) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


BearerTokenDep = Annotated[str | None, Depends(bearer_token)]
