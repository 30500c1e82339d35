"""Everything a request needs that lives as long as the app: database, index, engines, Redis."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from repairgpt.core.config import Settings
from repairgpt.core.metrics import HttpMetrics
from repairgpt.services.answer import AnswerEngine
from repairgpt.services.cache import RedisLink, SearchCache
from repairgpt.services.guides import GuideCatalog
from repairgpt.services.ratelimit import RateLimiter
from repairgpt.services.storage import ImageStore


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    catalog: GuideCatalog
    answer_engine: AnswerEngine
    redis: RedisLink
    search_cache: SearchCache
    limiter: RateLimiter
    image_store: ImageStore
    metrics: HttpMetrics
    head_revision: str | None
