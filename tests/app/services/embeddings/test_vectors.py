"""Guide vectors in the database: computed once, recomputed only for what changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from repairgpt.core.db import session_scope
from repairgpt.models import GuideVector, RepairGuide
from repairgpt.services.embeddings import EmbeddingsClient
from repairgpt.services.embeddings.store import embed_guides
from repairgpt.services.importer import GuideFile, import_guide_file, read_guide_file
from tests.app.services.embeddings.conftest import embeddings_config
from tests.utils.embeddings_server import PASSAGE_MODEL, EmbeddingsServer
from tests.utils.servers import free_port

GUIDES = 8


def _vectors(factory: sessionmaker[Session]) -> list[GuideVector]:
    with factory() as session:
        return list(session.scalars(select(GuideVector).order_by(GuideVector.guide_id)))


def test_vectors_are_computed_for_every_guide_with_model_and_dimensions(
    guides_db: sessionmaker[Session], embeddings_client: EmbeddingsClient
) -> None:
    done: list[tuple[int, int]] = []
    report = embed_guides(
        guides_db, embeddings_client, progress=lambda d, t, _s: done.append((d, t))
    )
    assert (report.computed, report.unchanged, report.missing) == (GUIDES, 0, 0)
    assert report.dimensions == 384 and report.error is None
    assert done[-1] == (GUIDES, GUIDES)
    rows = _vectors(guides_db)
    assert len(rows) == GUIDES
    assert {row.model for row in rows} == {PASSAGE_MODEL}
    assert {row.dimensions for row in rows} == {384}
    vector = np.frombuffer(rows[0].vector, dtype="<f4")
    assert vector.shape == (384,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3


def test_a_second_run_computes_nothing(
    guides_db: sessionmaker[Session], embeddings_client: EmbeddingsClient
) -> None:
    embed_guides(guides_db, embeddings_client)
    before = {row.guide_id: row.computed_at for row in _vectors(guides_db)}
    again = embed_guides(guides_db, embeddings_client)
    assert (again.computed, again.unchanged) == (0, GUIDES)
    assert {row.guide_id: row.computed_at for row in _vectors(guides_db)} == before


def _changed_file(data: dict[str, Any], folder: Path) -> GuideFile:
    data["guides"][0]["summary"] = "Blow the dust out of a clogged cooling fan."
    path = folder / "changed.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return read_guide_file(path)


def test_a_changed_guide_is_the_only_one_recomputed(
    guides_db: sessionmaker[Session],
    embeddings_client: EmbeddingsClient,
    guide_data: dict[str, Any],
    tmp_path: Path,
) -> None:
    embed_guides(guides_db, embeddings_client)
    before = {row.guide_id: (row.text_hash, row.vector) for row in _vectors(guides_db)}
    with session_scope(guides_db) as session:
        report = import_guide_file(session, _changed_file(guide_data, tmp_path))
    assert report.guides_updated == 1
    again = embed_guides(guides_db, embeddings_client)
    assert (again.computed, again.unchanged) == (1, GUIDES - 1)
    after = {row.guide_id: (row.text_hash, row.vector) for row in _vectors(guides_db)}
    changed = [guide_id for guide_id in after if after[guide_id] != before[guide_id]]
    with guides_db() as session:
        fan = session.scalars(
            select(RepairGuide.id).where(RepairGuide.source_id == "p-t480-fan")
        ).one()
    assert changed == [fan]


def test_another_model_recomputes_every_guide_and_keeps_the_first(
    guides_db: sessionmaker[Session],
    embeddings_client: EmbeddingsClient,
    embeddings_server: EmbeddingsServer,
) -> None:
    embed_guides(guides_db, embeddings_client)
    # Another passage model name; with prefixes the text (and so the hash) differs too.
    other = EmbeddingsClient(
        embeddings_config(
            embeddings_server, passage_model="e5-passage-prefixed", passage_prefix="guide: "
        )
    )
    report = embed_guides(guides_db, other)
    assert (report.model, report.computed, report.unchanged) == ("e5-passage-prefixed", GUIDES, 0)
    with guides_db() as session:
        counts = dict(
            session.execute(
                select(GuideVector.model, func.count()).group_by(GuideVector.model)
            ).all()
        )
    assert counts == {PASSAGE_MODEL: GUIDES, "e5-passage-prefixed": GUIDES}


def test_an_unreachable_endpoint_leaves_the_vectors_missing(
    guides_db: sessionmaker[Session], embeddings_server: EmbeddingsServer
) -> None:
    closed = embeddings_config(embeddings_server, base_url=f"http://127.0.0.1:{free_port()}/v1")
    report = embed_guides(guides_db, EmbeddingsClient(closed))
    assert (report.computed, report.missing) == (0, GUIDES)
    assert report.error is not None and "failed" in report.error
    assert _vectors(guides_db) == []
