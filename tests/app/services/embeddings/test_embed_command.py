"""`repairgpt guides import` and `guides embed`: vectors, progress, a summary, clear failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from repairgpt.core.db import build_session_factory, create_db_engine
from repairgpt.models import GuideVector, RepairGuide
from tests.app.conftest import OUTSIDE_SETTINGS
from tests.app.services.embeddings.conftest import PARAPHRASE_GUIDES
from tests.utils.embeddings_server import EmbeddingsServer
from tests.utils.servers import free_port

REPAIRGPT = str(Path(sys.executable).parent / "repairgpt")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SETTINGS}
    return subprocess.run(
        [REPAIRGPT, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _counts(url: str) -> tuple[int, int]:
    engine = create_db_engine(url)
    try:
        with build_session_factory(engine)() as session:
            guides = session.scalar(select(func.count()).select_from(RepairGuide)) or 0
            vectors = session.scalar(select(func.count()).select_from(GuideVector)) or 0
    finally:
        engine.dispose()
    return guides, vectors


def test_import_computes_vectors_with_progress_then_only_what_changed(
    embeddings_server: EmbeddingsServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'repairgpt.db'}"
    env = {"DATABASE_URL": url, "EMBEDDINGS_BATCH_SIZE": "3", **embeddings_server.env()}
    first = _run("guides", "import", str(PARAPHRASE_GUIDES), env=env)
    assert first.returncode == 0, first.stderr
    assert "8 guides created" in first.stdout
    progress = [line for line in first.stderr.splitlines() if line.startswith("vectors: ")]
    assert progress[0].startswith("vectors: 3/8 guides, ")
    assert progress[-1].startswith("vectors: 8/8 guides, ") and progress[-1].endswith("guides/s")
    assert "vectors (e5-passage, 384 dimensions): 8 computed, 0 unchanged, 0 missing" in (
        first.stderr
    )
    assert _counts(url) == (8, 8)

    again = _run("guides", "import", str(PARAPHRASE_GUIDES), env=env)
    assert again.returncode == 0, again.stderr
    assert "vectors (e5-passage): 0 computed, 8 unchanged, 0 missing" in again.stderr
    assert "vectors: " not in again.stderr


def test_a_failing_endpoint_leaves_the_guides_imported_and_says_vectors_are_missing(
    embeddings_server: EmbeddingsServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'repairgpt.db'}"
    closed = f"http://127.0.0.1:{free_port()}/v1"
    env = {"DATABASE_URL": url, **embeddings_server.env(embeddings_base_url=closed)}
    result = _run("guides", "import", str(PARAPHRASE_GUIDES), env=env)
    assert result.returncode == 3, result.stderr
    assert "8 guides created" in result.stdout
    assert "warning: 8 guides have no vector for e5-passage" in result.stderr
    assert "repairgpt guides embed" in result.stderr
    assert _counts(url) == (8, 0)

    # Once the endpoint answers, `guides embed` computes them alone.
    fixed = _run("guides", "embed", env={"DATABASE_URL": url, **embeddings_server.env()})
    assert fixed.returncode == 0, fixed.stderr
    assert "8 computed, 0 unchanged, 0 missing" in fixed.stderr
    assert _counts(url) == (8, 8)


def test_embed_needs_an_endpoint(tmp_path: Path) -> None:
    result = _run("guides", "embed", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 2
    assert "EMBEDDINGS_BASE_URL is not set" in result.stderr
