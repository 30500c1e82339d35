"""Everything a request needs that lives as long as the app: database, index, engines, Redis."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from anyio import CapacityLimiter
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from repairgpt.core.config import Settings
from repairgpt.core.metrics import HttpMetrics
from repairgpt.core.reads import ReadRouter
from repairgpt.services.cache import RedisLink, SearchCache
from repairgpt.services.chat_store import ChatStore
from repairgpt.services.embeddings.search import HybridSearch
from repairgpt.services.engines import AnswerEngine
from repairgpt.services.guides import GuideCatalog
from repairgpt.services.ratelimit import RateLimiter
from repairgpt.services.storage import ImageStore

# The kubelet and the operator probe about once every few seconds each.
PROBE_THREADS = 2


@dataclass
class AppContext:
    settings: Settings
    db_engine: Engine
    session_factory: sessionmaker[Session]
    catalog: GuideCatalog
    answer_engine: AnswerEngine
    redis: RedisLink
    search_cache: SearchCache
    rate_limiter: RateLimiter
    image_store: ImageStore
    metrics: HttpMetrics
    head_revision: str | None
    # Sessions of read-only requests: the primary, or the replica while the primary is down.
    reads: ReadRouter
    replica_db_engine: Engine | None = None
    # PostgreSQL only: stores chat exchanges from the event loop (see chat_store).
    chat_store: ChatStore | None = None
    # With EMBEDDINGS_BASE_URL: fuses dense ranking into the catalog's searches.
    hybrid_search: HybridSearch | None = None
    # Set by the first /ready that found the database reachable and migrated (see ops.ready).
    was_ready: bool = False

    @cached_property
    def chat_db_engine(self) -> Engine:
        """The database engine of the chat message path, which runs one statement at a time.

        On PostgreSQL it runs in autocommit: the reads need no transaction, and the write is a
        single statement, atomic on its own, so BEGIN and COMMIT would only add two round trips.
        SQLite keeps its transactions (there the exchange is written in two statements).
        """
        if self.db_engine.dialect.name == "postgresql":
            return self.db_engine.execution_options(isolation_level="AUTOCOMMIT")
        return self.db_engine

    @cached_property
    def db_limiter(self) -> CapacityLimiter:
        """Caps the threads doing chat database work at the connection pool's size.

        Past it every extra request would open and close a connection of the pool's overflow,
        which costs far more than waiting for a pooled one.
        """
        pool = self.db_engine.pool
        return CapacityLimiter(pool.size() if isinstance(pool, QueuePool) else 1)

    @cached_property
    def llm_limiter(self) -> CapacityLimiter:
        """Caps the threads waiting on the model endpoint (LLM_MAX_CONCURRENCY).

        Model calls never use the shared worker threads: a model that hangs would otherwise
        hold all of them, and every synchronous route would stop answering.
        """
        return CapacityLimiter(self.settings.llm_max_concurrency)

    @cached_property
    def probe_limiter(self) -> CapacityLimiter:
        """Threads of the readiness checks alone, so busy routes cannot make a pod unready."""
        return CapacityLimiter(PROBE_THREADS)
