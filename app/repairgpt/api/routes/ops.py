"""Operations endpoints: liveness, readiness and Prometheus metrics (outside /api/v1)."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from starlette.datastructures import Headers

from repairgpt.api.context import AppContext
from repairgpt.api.deps import ContextDep
from repairgpt.api.marks import Mark, mark
from repairgpt.api.problems import problem_response
from repairgpt.core.db import current_revision
from repairgpt.schemas import HealthStatus, ReadyStatus

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthStatus, summary="Liveness: the process serves HTTP")
@mark(Mark.ALWAYS_OPEN, Mark.QUIET)
async def health() -> HealthStatus:
    return HealthStatus()


def _database_checks(context: AppContext) -> dict[str, str]:
    try:
        with context.db_engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(context.db_engine)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return {"database": f"unreachable ({type(exc).__name__})", "migrations": "unknown"}
    migrated = revision is not None and revision == context.head_revision
    return {
        "database": "ok",
        "migrations": "ok"
        if migrated
        else f"pending (at {revision}, head {context.head_revision})",
    }


def came_through_proxy(headers: Headers) -> bool:
    """Whether a proxy (the Ingress) forwarded the request, i.e. the caller is outside the
    cluster; the kubelet, the operator and in-cluster clients call the pod directly."""
    return "x-forwarded-for" in headers or "forwarded" in headers


@router.get(
    "/ready",
    response_model=ReadyStatus,
    summary="Readiness: database reachable and migrated (Redis is reported, not required)",
    description="Not ready (503) until the database has been reached and migrated once. After "
    "that, losing the database makes the API `degraded` (200): requests that need the database "
    "get a 503 problem each, the rest are served, and the operator fails over to the replica. "
    "The checks and the guide count are only shown to direct callers: a request forwarded by a "
    "proxy (X-Forwarded-For or Forwarded) gets the status alone.",
    responses={503: {"description": "Not ready", "content": {"application/problem+json": {}}}},
)
@mark(Mark.QUIET)
async def ready(request: Request, context: ContextDep) -> Response:
    # Threads of its own: busy request threads must not make the pod look unready.
    checks = await to_thread.run_sync(_database_checks, context, limiter=context.probe_limiter)
    # Kept fresh by the kubelet's readiness probe; the DatabaseConnectionFailure alert reads it.
    context.metrics.database_up.set(1 if checks["database"] == "ok" else 0)
    checks["redis"] = await context.redis.ping()
    # Informational: BM25F alone (no endpoint, no vectors, endpoint failing) is still ready.
    hybrid = context.hybrid_search
    checks["search"] = hybrid.mode().describe() if hybrid is not None else "bm25f"
    guides = len(context.catalog.snapshot.index)
    detailed = not came_through_proxy(request.headers)
    if checks["database"] == "ok" and checks["migrations"] == "ok":
        context.was_ready = True
        return _ready_response(ReadyStatus(status="ready", checks=checks, guides=guides), detailed)
    if context.was_ready and checks["database"] != "ok":
        # Taking every pod out of the Service when the shared database goes away would turn
        # clear 503s into refused connections, for guide searches too, which need no database.
        body = ReadyStatus(status="degraded", checks=checks, guides=guides)
        return _ready_response(body, detailed)
    return problem_response(
        status=503,
        detail="The database is not reachable or not migrated.",
        instance="/ready",
        extensions={"checks": checks, "guides": guides} if detailed else None,
        headers={"Retry-After": "5"},
    )


def _ready_response(body: ReadyStatus, detailed: bool) -> Response:
    shown = body if detailed else ReadyStatus(status=body.status)
    return Response(shown.model_dump_json(exclude_none=True), media_type="application/json")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
@mark(Mark.ALWAYS_OPEN, Mark.QUIET)
async def metrics(context: ContextDep) -> Response:
    return Response(context.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
