"""Guides in the database: CRUD, the DB -> GuideDoc mapping, and the in-process search index."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, Unpack

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from repairgpt.models import Device, GuideStep, RepairGuide, utcnow
from repairgpt.schemas import GuideCreate, GuideUpdate
from repairgpt.services.retrieval import Filters, GuideDoc, GuideIndex, SearchHit

log = logging.getLogger(__name__)


def _strings(values: Iterable[object] | None) -> tuple[str, ...]:
    return tuple(str(value) for value in (values or ()) if value)


def guide_to_doc(guide: RepairGuide) -> GuideDoc:
    """What the index and the answer engines see of one guide (device and steps loaded)."""
    device = guide.device
    return GuideDoc(
        id=guide.id,
        source_id=guide.source_id,
        title=guide.title,
        summary=guide.summary or "",
        language=guide.language,
        device_name=device.name,
        device_category=device.category,
        device_brand=device.brand,
        device_aliases=_strings(device.aliases),
        difficulty=guide.difficulty,
        time_minutes=guide.time_minutes,
        tools=_strings(guide.tools),
        parts=_strings(guide.parts),
        safety_warnings=_strings(guide.safety_warnings),
        keywords=_strings(guide.keywords),
        steps=tuple((step.title or "", step.text or "") for step in guide.steps),
        source_url=guide.source_url,
    )


def load_guide_docs(session: Session) -> list[GuideDoc]:
    statement = (
        select(RepairGuide)
        .where(RepairGuide.is_active.is_(True))
        .options(selectinload(RepairGuide.device), selectinload(RepairGuide.steps))
        .order_by(RepairGuide.id)
    )
    return [guide_to_doc(guide) for guide in session.scalars(statement)]


def catalog_fingerprint(session: Session) -> str:
    """A short value that changes whenever any guide or device is added, edited or removed."""
    guides = session.execute(
        select(
            func.count(RepairGuide.id), func.max(RepairGuide.id), func.max(RepairGuide.updated_at)
        )
    ).one()
    devices = session.execute(
        select(func.count(Device.id), func.max(Device.id), func.max(Device.updated_at))
    ).one()
    raw = "|".join(str(value) for value in (*guides, *devices))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class SearchIndex(Protocol):
    """What searches call: `GuideIndex`, or a hybrid index around it."""

    def __len__(self) -> int: ...

    def search(
        self, query: str, *, limit: int = 10, snippets: bool = True, **filters: Unpack[Filters]
    ) -> list[SearchHit]: ...


class IndexExtension(Protocol):
    """Builds the search index around the lexical one (hybrid search), with a version of its
    own data so that the catalog notices a change there too."""

    def version(self, session: Session) -> str: ...

    def build(self, session: Session, docs: list[GuideDoc], lexical: GuideIndex) -> SearchIndex: ...


@dataclass(frozen=True)
class CatalogSnapshot:
    index: SearchIndex
    version: str
    docs_by_id: dict[int, GuideDoc]


class GuideCatalog:
    """The search index of the active guides, rebuilt when the database changes.

    Replicas each hold their own index; `refresh_if_changed` (called on a timer) picks up
    edits made through another replica.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], extension: IndexExtension | None = None
    ) -> None:
        self._session_factory = session_factory
        self._extension = extension
        self._lock = threading.Lock()
        self._snapshot = CatalogSnapshot(GuideIndex.build([]), "empty", {})

    @property
    def snapshot(self) -> CatalogSnapshot:
        return self._snapshot

    def rebuild(self) -> CatalogSnapshot:
        with self._lock:
            with self._session_factory() as session:
                version = self._version(session)
                docs = load_guide_docs(session)
                lexical = GuideIndex.build(docs)
                index: SearchIndex = lexical
                if self._extension is not None:
                    index = self._extension.build(session, docs, lexical)
            snapshot = CatalogSnapshot(index, version, {d.id: d for d in docs})
            self._snapshot = snapshot
        log.info("guide index built", extra={"guides": len(docs), "index_version": version})
        return snapshot

    def _version(self, session: Session) -> str:
        version = catalog_fingerprint(session)
        if self._extension is not None:
            version = f"{version}-{self._extension.version(session)}"
        return version

    def refresh_if_changed(self) -> bool:
        with self._session_factory() as session:
            version = self._version(session)
        if version == self._snapshot.version:
            return False
        self.rebuild()
        return True


# CRUD


class DeviceNotFound(LookupError):
    pass


def get_guide(*, session: Session, guide_id: int) -> RepairGuide | None:
    statement = (
        select(RepairGuide)
        .where(RepairGuide.id == guide_id)
        .options(selectinload(RepairGuide.device), selectinload(RepairGuide.steps))
    )
    return session.scalars(statement).first()


def _replace_steps(guide: RepairGuide, steps: Sequence[tuple[str, str, list[str]]]) -> None:
    # Positions are unique per guide: clear and flush before inserting the new ones.
    guide.steps.clear()
    session = Session.object_session(guide)
    if session is not None and guide.id is not None:
        session.flush()
    guide.steps.extend(
        GuideStep(position=position, title=title, text=text, images=images)
        for position, (title, text, images) in enumerate(steps, start=1)
    )


def create_guide(*, session: Session, guide_in: GuideCreate) -> RepairGuide:
    if session.get(Device, guide_in.device_id) is None:
        raise DeviceNotFound(guide_in.device_id)
    data = guide_in.model_dump(exclude={"steps"})
    guide = RepairGuide(**data, is_active=True)
    guide.steps = [
        GuideStep(position=position, title=step.title, text=step.text, images=list(step.images))
        for position, step in enumerate(guide_in.steps, start=1)
    ]
    session.add(guide)
    session.flush()
    session.refresh(guide)
    return guide


_NOT_NULL_FIELDS = frozenset(
    {"title", "summary", "language", "is_active", "tools", "parts", "safety_warnings", "keywords"}
)


def update_guide(*, session: Session, guide: RepairGuide, guide_in: GuideUpdate) -> RepairGuide:
    changes = guide_in.model_dump(exclude_unset=True)
    if "device_id" in changes:
        if changes["device_id"] is None or session.get(Device, changes["device_id"]) is None:
            raise DeviceNotFound(changes["device_id"])
    steps = changes.pop("steps", None)
    for field, value in changes.items():
        if value is None and field in _NOT_NULL_FIELDS:
            continue  # a null for a required field means "leave it", not "erase it"
        setattr(guide, field, value)
    if steps is not None and guide_in.steps is not None:
        # From the model, not the dump: exclude_unset drops a step's defaulted fields.
        _replace_steps(guide, [(s.title, s.text, list(s.images)) for s in guide_in.steps])
    # Touch the row even when only steps changed, so the catalog fingerprint moves.
    guide.updated_at = utcnow()
    session.flush()
    session.refresh(guide)
    return guide


def step_at(guide: RepairGuide, position: int) -> GuideStep | None:
    return next((step for step in guide.steps if step.position == position), None)


def add_step_image(*, session: Session, guide: RepairGuide, step: GuideStep, url: str) -> None:
    """Append `url` to the step's images and touch the guide, so the catalog notices."""
    step.images = [*(step.images or []), url]  # a new list: JSON columns track assignment only
    guide.updated_at = utcnow()
    session.flush()


def delete_guide(*, session: Session, guide: RepairGuide) -> None:
    session.delete(guide)
    session.flush()
