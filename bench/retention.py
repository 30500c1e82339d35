"""Chat retention: how long the prune holds its locks, batched against one DELETE.

Seeds a throwaway PostgreSQL with a chat history (tests/utils/chat_history.py, scaled to about
`--messages` rows, two thirds past retention), then for each variant on a fresh copy measures the
wall time and the longest transaction (each transaction holds the row locks of what it deleted
until it commits):
  - `single`: the former `prune_chats`, one DELETE of every old message and session, one commit
  - `batch-N`: `prune_chat_history` with N primary keys per transaction (then ANALYZE)
Results: bench/results/retention.json.

Usage: .venv/bin/python bench/retention.py [--messages 300000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from repairgpt.core.config import normalize_database_url  # noqa: E402
from repairgpt.core.db import build_session_factory, create_db_engine, migrate  # noqa: E402
from repairgpt.services.chat_sessions import prune_chats  # noqa: E402
from repairgpt.services.retention import prune_chat_history  # noqa: E402
from tests.utils.chat_history import HistoryShape, seed_chat_history  # noqa: E402
from tests.utils.servers import PostgresServer  # noqa: E402

BATCH_SIZES = (1000, 5000, 20000)


def shape_for(messages: int) -> HistoryShape:
    sessions = max(1, messages // 20)
    return HistoryShape(
        old=sessions // 2, mixed=sessions // 3, recent=sessions - sessions // 2 - sessions // 3
    )


def single_delete(url: str, cutoff: datetime) -> dict[str, Any]:
    engine = create_db_engine(url)
    started = time.monotonic()
    with build_session_factory(engine)() as session:
        messages, sessions = prune_chats(session=session, cutoff=cutoff)
        session.commit()
    seconds = time.monotonic() - started
    engine.dispose()
    return {
        "rows_deleted": messages + sessions,
        "batches": 1,
        "seconds": round(seconds, 3),
        "max_batch_seconds": round(seconds, 4),
    }


def batched(url: str, cutoff: datetime, size: int) -> dict[str, Any]:
    engine = create_db_engine(url)
    result = prune_chat_history(engine, cutoff=cutoff, batch_size=size).as_json()
    engine.dispose()
    return {key: result[key] for key in ("rows_deleted", "batches", "seconds", "max_batch_seconds")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    args = parser.parse_args()
    shape = shape_for(args.messages)
    server = PostgresServer().init().start()
    try:
        template = server.create_database("retention_template")
        engine = create_db_engine(normalize_database_url(template))
        migrate(engine)
        seed_chat_history(engine, shape)
        engine.dispose()
        cutoff = datetime.now(UTC) - timedelta(days=365)
        variants: dict[str, Any] = {}
        for name in ["single", *(f"batch-{size}" for size in BATCH_SIZES)]:
            server.psql(f'CREATE DATABASE "{name.replace("-", "_")}" TEMPLATE retention_template')
            url = normalize_database_url(server.url_for(name.replace("-", "_")))
            if name == "single":
                variants[name] = single_delete(url, cutoff)
            else:
                variants[name] = batched(url, cutoff, int(name.split("-")[1]))
    finally:
        server.cleanup()
    print(f"{shape.total_messages} messages, {shape.old_messages} past retention")
    print(f"{'variant':<12} {'rows':>8} {'batches':>8} {'seconds':>8} {'longest tx s':>13}")
    for name, run in variants.items():
        print(
            f"{name:<12} {run['rows_deleted']:>8} {run['batches']:>8} {run['seconds']:>8.2f} "
            f"{run['max_batch_seconds']:>13.4f}"
        )
    results = {
        "benchmark": "retention",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "messages": shape.total_messages,
        "messages_past_retention": shape.old_messages,
        "variants": variants,
    }
    out = REPO_ROOT / "bench" / "results" / "retention.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
