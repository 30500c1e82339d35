"""Guides: ranked search (cached), one guide, and admin-only create, update and delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from repairgpt.api.context import AppContext
from repairgpt.api.deps import AdminDep, ContextDep, ReadSessionDep, SessionDep
from repairgpt.api.marks import Mark, mark
from repairgpt.api.problems import ProblemError
from repairgpt.models import RepairGuide
from repairgpt.schemas import (
    MAX_DB_INT,
    Difficulty,
    GuideCreate,
    GuideHit,
    GuideHitsPublic,
    GuidePublic,
    GuideUpdate,
    Language,
    SafeStr,
)
from repairgpt.services.cache import search_cache_key
from repairgpt.services.guides import (
    DeviceNotFound,
    create_guide,
    delete_guide,
    get_guide,
    update_guide,
)
from repairgpt.services.retrieval import SearchHit

router = APIRouter(prefix="/guides", tags=["guides"])

GuideId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]


def _hit(hit: SearchHit) -> GuideHit:
    guide = hit.guide
    return GuideHit(
        id=guide.id,
        title=guide.title,
        source_id=guide.source_id,
        score=hit.score,
        snippet=hit.snippet,
        summary=guide.summary,
        language=guide.language,
        device=guide.device_name,
        difficulty=guide.difficulty,
        time_minutes=guide.time_minutes,
        source_url=guide.source_url,
    )


@router.get(
    "",
    response_model=GuideHitsPublic,
    summary="Search guides",
    description="Ranked by relevance to `q` (English or Japanese); an empty `q` lists by title.",
)
@mark(Mark.CACHED_SEARCH)
async def search_guides(
    request: Request,
    context: ContextDep,
    q: Annotated[SafeStr, Query(max_length=500)] = "",
    device: Annotated[SafeStr | None, Query(max_length=200)] = None,
    difficulty: Difficulty | None = None,
    lang: Language | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Response:
    # Cache hits never get here: GateMiddleware answers them before validation.
    snapshot = context.catalog.snapshot
    query = q.strip()
    key = search_cache_key(request.scope["query_string"], snapshot.version)
    hits = await run_in_threadpool(
        snapshot.index.search,
        query,
        limit=limit,
        language=lang,
        device=device,
        difficulty=difficulty,
    )
    body = GuideHitsPublic(data=[_hit(h) for h in hits], count=len(hits)).model_dump_json()
    encoded = body.encode()
    await context.search_cache.set(key, encoded)
    return Response(encoded, media_type="application/json", headers={"X-Cache": "miss"})


def existing_guide(session: Session, guide_id: int) -> RepairGuide:
    """The guide, else a 404 problem."""
    guide = get_guide(session=session, guide_id=guide_id)
    if guide is None:
        raise ProblemError(404, f"Guide {guide_id} does not exist.", slug="not-found")
    return guide


def commit_guide_change(context: AppContext, session: Session, guide_id: int | None = None) -> None:
    """Commit a change to the guides, bring the vector of the created or changed guide
    (`guide_id`) up to date when search is hybrid, then rebuild the search catalog so that both
    show."""
    session.commit()
    if guide_id is not None and context.hybrid_search is not None:
        context.hybrid_search.refresh_guide(context.session_factory, guide_id)
    context.catalog.rebuild()


def _unknown_device(device_id: int | None) -> ProblemError:
    return ProblemError(422, f"Device {device_id} does not exist.", slug="unknown-device")


@router.get("/{guide_id}", response_model=GuidePublic, summary="One guide with its steps")
def read_guide(session: ReadSessionDep, guide_id: GuideId) -> GuidePublic:
    return GuidePublic.model_validate(existing_guide(session, guide_id))


@router.post(
    "",
    response_model=GuidePublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[AdminDep],
    summary="Create a guide (X-API-Key)",
)
def create(context: ContextDep, session: SessionDep, guide_in: GuideCreate) -> GuidePublic:
    try:
        guide = create_guide(session=session, guide_in=guide_in)
    except DeviceNotFound:
        raise _unknown_device(guide_in.device_id) from None
    except IntegrityError:
        session.rollback()
        raise ProblemError(
            409,
            f"A guide with source {guide_in.source!r} and source_id {guide_in.source_id!r} "
            "already exists.",
            slug="duplicate-guide",
        ) from None
    public = GuidePublic.model_validate(guide)
    commit_guide_change(context, session, public.id)
    return public


@router.patch(
    "/{guide_id}",
    response_model=GuidePublic,
    dependencies=[AdminDep],
    summary="Update a guide (X-API-Key)",
)
def update(
    context: ContextDep, session: SessionDep, guide_id: GuideId, guide_in: GuideUpdate
) -> GuidePublic:
    guide = existing_guide(session, guide_id)
    try:
        guide = update_guide(session=session, guide=guide, guide_in=guide_in)
    except DeviceNotFound:
        raise _unknown_device(guide_in.device_id) from None
    public = GuidePublic.model_validate(guide)
    commit_guide_change(context, session, guide_id)
    return public


@router.delete(
    "/{guide_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AdminDep],
    summary="Delete a guide (X-API-Key)",
)
def delete(context: ContextDep, session: SessionDep, guide_id: GuideId) -> Response:
    delete_guide(session=session, guide=existing_guide(session, guide_id))
    commit_guide_change(context, session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
