"""`repairgpt guides embed`, also run by `guides import`: stale vectors, progress, a summary."""

from __future__ import annotations

import time
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from repairgpt.core.config import Settings
from repairgpt.services.embeddings.client import EmbeddingsClient, EmbeddingsConfig
from repairgpt.services.embeddings.store import EmbedReport, Progress, embed_guides

# Exit code when the guides are in the database but some have no vector (endpoint failed).
VECTORS_MISSING = 3
# Batch calls may take far longer than a search's query embedding.
BATCH_TIMEOUT_SECONDS = 120.0
_PROGRESS_EVERY_SECONDS = 2.0


def progress_printer(stream: TextIO) -> Progress:
    """A progress callback that prints a line at most every two seconds, and the last one."""
    last = [float("-inf")]

    def report(done: int, total: int, seconds: float) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < _PROGRESS_EVERY_SECONDS:
            return
        last[0] = now
        rate = done / seconds if seconds > 0 else 0.0
        print(f"vectors: {done}/{total} guides, {rate:.1f} guides/s", file=stream, flush=True)

    return report


def summary_line(report: EmbedReport) -> str:
    dims = f", {report.dimensions} dimensions" if report.dimensions else ""
    return (
        f"vectors ({report.model}{dims}): {report.computed} computed, {report.unchanged} "
        f"unchanged, {report.missing} missing in {report.seconds:.1f} s "
        f"({report.guides_per_second:.1f} guides/s)"
    )


def compute_vectors(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    stream: TextIO,
    quiet: bool = False,
) -> int:
    """Compute the stale guide vectors; 0, or VECTORS_MISSING with a warning on `stream`."""
    config = EmbeddingsConfig.from_settings(settings)
    if config is None:
        print("no EMBEDDINGS_BASE_URL: no vectors to compute", file=stream)
        return 0
    client = EmbeddingsClient(config, timeout=max(config.timeout, BATCH_TIMEOUT_SECONDS))
    progress = None if quiet else progress_printer(stream)
    report = embed_guides(session_factory, client, progress=progress)
    print(summary_line(report), file=stream)
    if report.error is None:
        return 0
    print(
        f"warning: {report.missing} guides have no vector for {report.model} ({report.error}); "
        "search ranks them with BM25F alone. Run `repairgpt guides embed` once the endpoint "
        "answers.",
        file=stream,
    )
    return VECTORS_MISSING
