"""Fixtures of the embeddings tests: a small guide set whose questions need meaning, not words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import build_session_factory, create_db_engine, migrate, session_scope
from repairgpt.services.embeddings import EmbeddingsClient, EmbeddingsConfig
from repairgpt.services.importer import import_guide_file, read_guide_file
from tests.utils.embeddings_server import PASSAGE_MODEL, QUERY_MODEL, EmbeddingsServer

PARAPHRASE_GUIDES = Path(__file__).resolve().parent / "guides_paraphrase.json"


@pytest.fixture
def guide_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PARAPHRASE_GUIDES.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def guides_db(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database (SQLite and PostgreSQL) holding the paraphrase guides."""
    engine = create_db_engine(normalize_database_url(database_url))
    migrate(engine)
    factory = build_session_factory(engine)
    with session_scope(factory) as session:
        import_guide_file(session, read_guide_file(PARAPHRASE_GUIDES))
    yield factory
    engine.dispose()


def embeddings_config(server: EmbeddingsServer, **overrides: Any) -> EmbeddingsConfig:
    values: dict[str, Any] = {
        "base_url": server.base_url,
        "model": QUERY_MODEL,
        "passage_model": PASSAGE_MODEL,
        "timeout": 30.0,
    }
    values.update(overrides)
    return EmbeddingsConfig(**values)


@pytest.fixture
def embeddings_client(embeddings_server: EmbeddingsServer) -> EmbeddingsClient:
    return EmbeddingsClient(embeddings_config(embeddings_server))
