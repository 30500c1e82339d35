"""The chat message write on PostgreSQL from the event loop, through psycopg's async pool.

Every chat message with an engine that ignores history is one statement
(`chat_sessions.RECORD_AUTHORISED_EXCHANGE_PG`): it checks the token, touches the session and stores
both messages. Through SQLAlchemy in a worker thread, the thread hop, the pool's checkout ping
and the statement execution machinery cost more CPU than the answer itself; here the
statement, compiled once, runs on a pooled autocommit connection without leaving the event
loop. SQLite, history-using engines and read-only mode keep the threaded path.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import URL, Engine

from repairgpt.services import chat_sessions


def libpq_conninfo(url: URL) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (`postgresql+psycopg://` → `postgresql://`)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ChatStore:
    """A small pool of autocommit connections that stores chat exchanges.

    Opened in the app's lifespan without waiting for the database: connections are made in
    the background, and a request that finds none within `timeout` seconds gets
    `psycopg_pool.PoolTimeout`, which the caller treats like any database error.
    """

    def __init__(self, engine: Engine, *, size: int, timeout: float = 5.0) -> None:
        # The threaded path's statement, in psycopg's parameter style.
        self._record = str(
            chat_sessions.RECORD_AUTHORISED_EXCHANGE_PG.compile(dialect=engine.dialect)
        )
        self._pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            libpq_conninfo(engine.url),
            min_size=size,
            max_size=size,
            timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": 5},
            open=False,
            name="chat",
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    def connections_opened(self) -> int:
        """Connections this pool has opened since it started (reconnections included)."""
        return int(self._pool.get_stats().get("connections_num", 0))

    async def record_authorised_exchange(
        self, *, exchange: chat_sessions.Exchange, token: str
    ) -> list[int]:
        """Store the exchange if `token` opens the session; the ids stored, [] if it does not.

        Raises psycopg errors (and PoolTimeout) when the database fails; nothing is stored then
        (the statement is atomic), except if the connection broke after the server committed.
        """
        params: dict[str, Any] = chat_sessions.exchange_params(exchange)
        params["token_hash"] = chat_sessions.hash_token(token)
        params["citations"] = json.dumps(params["citations"], ensure_ascii=False)
        async with self._pool.connection() as connection:
            cursor = await connection.execute(self._record, params)
            rows = await cursor.fetchall()
        return [int(row[0]) for row in rows]
