"""The FastAPI application: `create_app()` wires settings, database, index, engines and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from repairgpt import __version__
from repairgpt.api.context import AppContext
from repairgpt.api.main import API_ROOT, api_router, ops_router
from repairgpt.api.marks import RouteMarks, route_paths
from repairgpt.api.middleware import (
    ClientAddressMiddleware,
    GateMiddleware,
    ObservabilityMiddleware,
    RouteTemplates,
)
from repairgpt.api.problems import install_problem_handlers
from repairgpt.core.config import Settings
from repairgpt.core.db import (
    build_session_factory,
    create_db_engine,
    head_revision,
    migrate,
    session_scope,
)
from repairgpt.core.logging import configure_logging
from repairgpt.core.metrics import HttpMetrics
from repairgpt.core.proxies import TrustedProxies
from repairgpt.core.reads import ReadRouter
from repairgpt.services.cache import RedisLink, SearchCache
from repairgpt.services.chat_store import ChatStore
from repairgpt.services.embeddings import EmbeddingsClient, EmbeddingsConfig, QueryEmbedder
from repairgpt.services.embeddings.search import HYBRID, HybridSearch
from repairgpt.services.engines import select_answer_engine
from repairgpt.services.guides import GuideCatalog
from repairgpt.services.importer import seed_if_empty
from repairgpt.services.ratelimit import RateLimiter
from repairgpt.services.storage import build_image_store

log = logging.getLogger("repairgpt")

# Per process, beside the SQLAlchemy pool: one statement of about a millisecond per message.
CHAT_STORE_CONNECTIONS = 4


def build_hybrid_search(settings: Settings, metrics: HttpMetrics) -> HybridSearch | None:
    """Dense ranking beside BM25F when an embeddings endpoint is configured."""
    config = EmbeddingsConfig.from_settings(settings)
    if config is None:
        return None
    embedder = QueryEmbedder(
        EmbeddingsClient(config),
        retry_seconds=settings.embeddings_retry_seconds,
        on_fallback=metrics.count_search_fallback,
        deadline_seconds=settings.embeddings_query_deadline_ms / 1000,
    )
    hybrid = HybridSearch(embedder)
    metrics.watch_search_mode(lambda: hybrid.mode().mode == HYBRID)
    return hybrid


def build_context(settings: Settings) -> AppContext:
    """Create the long-lived objects; nothing here touches the network or the database yet."""
    db_engine = create_db_engine(settings.sqlalchemy_url)
    session_factory = build_session_factory(db_engine)
    replica_url = settings.replica_sqlalchemy_url
    replica_db_engine = create_db_engine(replica_url) if replica_url else None
    redis = RedisLink(settings.redis_url)
    metrics = HttpMetrics()
    hybrid_search = build_hybrid_search(settings, metrics)
    return AppContext(
        settings=settings,
        db_engine=db_engine,
        session_factory=session_factory,
        catalog=GuideCatalog(session_factory, hybrid_search),
        hybrid_search=hybrid_search,
        answer_engine=select_answer_engine(settings),
        redis=redis,
        search_cache=SearchCache(redis, ttl_seconds=settings.search_cache_ttl_seconds),
        rate_limiter=RateLimiter(
            redis,
            limit=settings.rate_limit_requests,
            window_seconds=settings.rate_limit_window_seconds,
        ),
        image_store=build_image_store(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            folder=settings.upload_folder,
        ),
        metrics=metrics,
        head_revision=head_revision(),
        reads=ReadRouter(
            session_factory,
            build_session_factory(replica_db_engine) if replica_db_engine is not None else None,
        ),
        replica_db_engine=replica_db_engine,
        chat_store=(
            ChatStore(db_engine, size=CHAT_STORE_CONNECTIONS)
            if db_engine.dialect.name == "postgresql" and not settings.read_only_mode
            else None
        ),
    )


def prepare_database(context: AppContext) -> None:
    """Migrate, seed an empty guide table, and build the search index (blocking)."""
    settings = context.settings
    # A read-only deployment points at a replica: it must neither migrate nor seed.
    if settings.auto_migrate and not settings.read_only_mode:
        migrate(context.db_engine)
    if settings.seed_guides and not settings.read_only_mode:
        try:
            with session_scope(context.session_factory) as session:
                report = (
                    seed_if_empty(session, settings.seed_guides_file)
                    if settings.seed_guides_file
                    else seed_if_empty(session)
                )
            if report is not None:
                log.info(
                    "seed guides imported",
                    extra={"guides": report.guides_created, "devices": report.devices_created},
                )
        except Exception:  # noqa: BLE001 - an unusable seed file must not keep the API down
            log.exception("seed guides could not be imported")
    try:
        context.catalog.rebuild()
    except Exception:  # noqa: BLE001 - start anyway; /ready says what is wrong
        log.exception("guide index could not be built; serving an empty index")


async def _refresh_catalog(context: AppContext, every: float) -> None:
    # Picks up guide edits made through other replicas (each replica holds its own index).
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(context.catalog.refresh_if_changed)
        except Exception as exc:  # noqa: BLE001 - keep serving the index we have
            log.warning("guide index refresh failed", extra={"error": type(exc).__name__})


def _lifespan(context: AppContext) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    settings = context.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info(
            "starting RepairGPT API", extra={"version": __version__, "config": settings.describe()}
        )
        # In maintenance mode the app only serves the maintenance page: it must not hold a
        # database connection (maintenance is when the database is being worked on).
        if not settings.maintenance_mode:
            await run_in_threadpool(prepare_database, context)
            if context.chat_store is not None:
                await context.chat_store.open()
        refresher = None
        if settings.catalog_refresh_seconds > 0 and not settings.maintenance_mode:
            refresher = asyncio.create_task(
                _refresh_catalog(context, settings.catalog_refresh_seconds)
            )
        try:
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            await _close(context)

    return lifespan


async def _close(context: AppContext) -> None:
    if context.chat_store is not None:
        await context.chat_store.close()
    await context.redis.close()
    context.db_engine.dispose()
    if context.replica_db_engine is not None:
        context.replica_db_engine.dispose()


def _add_middleware(app: FastAPI, context: AppContext) -> None:
    settings = context.settings
    # Added innermost first: observability sees every answer, including the gates' own.
    routes = RouteMarks(lambda: app.routes, api_root=API_ROOT)
    app.add_middleware(GateMiddleware, context=lambda: context, routes=routes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID", "X-RateLimit-Remaining"],
        )
    templates = RouteTemplates(lambda: route_paths(app.routes))
    app.add_middleware(
        ObservabilityMiddleware, context=lambda: context, templates=templates, routes=routes
    )
    # Outermost: logs, metrics and rate limits all see the client behind trusted proxies.
    app.add_middleware(
        ClientAddressMiddleware, trusted=TrustedProxies.parse(settings.trusted_proxies)
    )


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> FastAPI:
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_level)
    context = build_context(settings)
    app = FastAPI(
        title="RepairGPT API",
        version=__version__,
        description=(
            "Repair questions answered from a database of repair guides, in English and "
            "Japanese. Every error is `application/problem+json` (RFC 9457)."
        ),
        lifespan=_lifespan(context),
    )
    app.state.context = context
    install_problem_handlers(app)
    app.include_router(ops_router)
    app.include_router(api_router)
    _add_middleware(app, context)
    return app
