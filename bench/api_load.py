"""Load benchmark of `repairgpt serve` on PostgreSQL + Redis against a bare FastAPI endpoint.

Starts throwaway PostgreSQL and Redis servers, the API, and a one-route FastAPI app under the
same uvicorn settings (the same number of worker processes), then drives each scenario at a
fixed concurrency: the bare endpoint, cached guide search, and offline chat, whose questions
are varied, realistic ones in English and Japanese. Prints a table and writes
bench/results/api_load.json (runs with other options write api_load-<options>.json).

    .venv/bin/python bench/api_load.py [--concurrency 32] [--seconds 10] [--workers 2]
                                       [--client aiohttp|httpx]

The load generator is aiohttp by default. The generator shares the machine's cores with the
servers, so its own CPU per request is taken from theirs: httpx spends more CPU per request
than the bare endpoint does to answer it, and on a small machine a run with it mostly
measures httpx. aiohttp costs about as much as the bare endpoint, which keeps the ratio to the
bare endpoint a measure of the API. The table shows both sides' CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from harness import cpu_seconds

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.utils.servers import PostgresServer, RedisServer, free_port, port_open, wait_until  # noqa: E402

RESULTS_DIR = REPO_ROOT / "bench" / "results"
BIN = Path(sys.executable).parent

SEARCH_QUERIES = [
    "iphone battery drains fast",
    "switch joy-con drift",
    "laptop overheating loud fan",
    "バッテリー 交換",
    "screen cracked",
    "washing machine does not drain",
    "ps5 overheating",
    "充電できない",
]
# What users type: symptoms and devices in their own words, not guide titles. Each worker walks
# the list from its own starting point, so concurrent requests ask different questions.
CHAT_QUESTIONS = [
    "My iPhone battery drains really fast, how do I replace it?",
    "iPhone 13 dies at 30 percent, is it the battery?",
    "I dropped my iPhone and the screen is cracked",
    "My iPhone 11 won't charge unless I wiggle the cable",
    "Galaxy S21 battery is swollen and the back is lifting",
    "Samsung phone charging port is loose",
    "Pixel 7 touchscreen stopped responding after a fall",
    "I dropped my phone in water, what should I do right now?",
    "MacBook Air battery says service recommended",
    "I spilled coffee on my MacBook keyboard and keys are sticky",
    "ThinkPad T480 battery won't hold a charge",
    "Some keys on my ThinkPad keyboard don't work",
    "My laptop gets very hot and shuts down",
    "How do I upgrade the SSD in a Dell XPS 13?",
    "The Joy-Con stick moves by itself, what can I do?",
    "Nintendo Switch fan is loud and the console gets hot",
    "PS5 is overheating and the fan sounds like a jet engine",
    "My PS4 shuts off when playing games, thermal paste?",
    "DualSense controller drifts to the left",
    "Xbox controller LB button doesn't click anymore",
    "Washing machine does not drain, water stays in the drum",
    "Top loader washer bangs and shakes during the spin cycle",
    "Fridge is not cooling but the light is on",
    "Water is leaking under my refrigerator",
    "Dishwasher leaves standing water at the bottom",
    "Dishes come out of the dishwasher still dirty",
    "Microwave runs but the food stays cold",
    "Cordless vacuum has lost suction",
    "Roomba brushes are tangled with hair and it moves in circles",
    "Dryer runs but does not heat up",
    "Coffee maker brews slowly and the coffee tastes bitter",
    "ノートパソコンのファンがうるさいです",
    "iPhoneのバッテリーの減りが早い",
    "アイフォンの画面が割れてしまった",
    "ギャラクシーが充電できない",
    "ジョイコンのスティックが勝手に動く",
    "スイッチがゲームカードを読み込まない",
    "PS5が熱くてファンがうるさい",
    "洗濯機の水が抜けない",
    "冷蔵庫が冷えない",
    "電子レンジが温まらない",
    "掃除機の吸引力が落ちた",
    "エアコンが冷えないのですが掃除で直りますか",
    "炊飯器でご飯がうまく炊けない",
]

BARE_APP = textwrap.dedent(
    """
    from fastapi import FastAPI
    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict[str, bool]:
        return {"ok": True}
    """
)


@dataclass
class Result:
    scenario: str
    requests: int
    errors: int
    error_kinds: dict[str, int]
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    server_cpu_ms_per_request: float | None = None
    client_cpu_ms_per_request: float | None = None
    ratio_to_bare: float | None = None
    target: str = ""
    met: bool | None = None


def descendants(pid: int) -> list[int]:
    """The process and all its living descendants (a server's worker processes)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by a fixed set of processes (those that have exited count 0)."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, IndexError):
            continue
    return total


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass(frozen=True)
class Call:
    """One HTTP request of a scenario."""

    method: str
    path: str
    params: dict[str, str] | None = None
    json: dict[str, str] | None = None
    headers: dict[str, str] | None = None


class LoadClient:
    """The load generator's HTTP client: httpx (the default) or aiohttp (a cheaper one)."""

    def __init__(self, kind: str, base_url: str, concurrency: int) -> None:
        self.kind = kind
        self.base_url = base_url
        self.concurrency = concurrency
        self._client: Any = None

    async def __aenter__(self) -> LoadClient:
        if self.kind == "aiohttp":
            try:
                import aiohttp
            except ImportError:
                raise SystemExit(
                    "aiohttp is not installed: install it, or run with --client httpx"
                ) from None

            connector = aiohttp.TCPConnector(limit=self.concurrency)
            timeout = aiohttp.ClientTimeout(total=30)
            self._client = aiohttp.ClientSession(
                self.base_url, connector=connector, timeout=timeout
            )
        else:
            limits = httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            )
            self._client = httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=30)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.kind == "aiohttp":
            await self._client.close()
        else:
            await self._client.aclose()

    async def send(self, call: Call) -> int:
        """The status code; raises on transport errors."""
        if self.kind == "aiohttp":
            async with self._client.request(
                call.method, call.path, params=call.params, json=call.json, headers=call.headers
            ) as response:
                await response.read()
                status: int = response.status
                return status
        response = await self._client.request(
            call.method, call.path, params=call.params, json=call.json, headers=call.headers
        )
        return int(response.status_code)


async def drive(
    name: str,
    make_call: Callable[[int, int], Call],
    *,
    client_kind: str,
    base_url: str,
    server_pid: int,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> Result:
    """Run `concurrency` workers for `seconds` (after `warmup`) and collect latencies."""
    latencies: list[float] = []
    errors = 0
    error_kinds: dict[str, int] = {}
    async with LoadClient(client_kind, base_url, concurrency) as client:
        recording = False
        stop_at = time.perf_counter() + warmup + seconds

        async def worker(worker_id: int) -> None:
            nonlocal errors
            iteration = 0
            while time.perf_counter() < stop_at:
                call = make_call(worker_id, iteration)
                started = time.perf_counter()
                kind = ""
                try:
                    status = await client.send(call)
                    if status >= 400:
                        kind = str(status)
                except Exception as exc:  # noqa: BLE001 - every failure counts as an error
                    kind = type(exc).__name__
                elapsed = time.perf_counter() - started
                if recording:
                    latencies.append(elapsed)
                    if kind:
                        errors += 1
                        error_kinds[kind] = error_kinds.get(kind, 0) + 1
                iteration += 1

        tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
        await asyncio.sleep(warmup)
        recording = True
        measured_from = time.perf_counter()
        server_pids = descendants(server_pid)
        cpu_from = tree_cpu_seconds(server_pids)
        client_cpu_from = time.process_time()
        await asyncio.gather(*tasks)
        measured = time.perf_counter() - measured_from
        cpu_used = tree_cpu_seconds(server_pids) - cpu_from
        client_cpu_used = time.process_time() - client_cpu_from
    latencies.sort()
    return Result(
        scenario=name,
        requests=len(latencies),
        errors=errors,
        error_kinds=error_kinds,
        seconds=round(measured, 2),
        rps=round(len(latencies) / measured, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p95_ms=round(percentile(latencies, 0.95) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        server_cpu_ms_per_request=(
            round(cpu_used * 1000 / len(latencies), 3) if latencies else None
        ),
        client_cpu_ms_per_request=(
            round(client_cpu_used * 1000 / len(latencies), 3) if latencies else None
        ),
    )


def start_process(
    args: list[str], env: dict[str, str], port: int, log: Path
) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)
    wait_until(lambda: port_open(port) or process.poll() is not None, timeout=120, what=args[0])
    if process.poll() is not None:
        raise RuntimeError(f"{args} exited early; see {log}")
    return process


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


async def run_scenarios(
    api: str,
    bare: str,
    pids: tuple[int, int],
    concurrency: int,
    seconds: float,
    client_kind: str,
) -> list[Result]:
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        for query in SEARCH_QUERIES:  # fill the cache: the scenario measures cache hits
            response = await client.get("/api/v1/guides", params={"q": query, "limit": "5"})
            response.raise_for_status()
        sessions = []
        for _ in range(concurrency):
            created = (await client.post("/api/v1/chat/sessions")).json()
            sessions.append((created["id"], {"Authorization": f"Bearer {created['token']}"}))

    def bare_call(_w: int, _i: int) -> Call:
        return Call("GET", "/bare")

    def search_call(w: int, i: int) -> Call:
        query = SEARCH_QUERIES[(w + i) % len(SEARCH_QUERIES)]
        return Call("GET", "/api/v1/guides", params={"q": query, "limit": "5"})

    def chat_call(w: int, i: int) -> Call:
        session_id, headers = sessions[w]
        # Workers start far apart in the list, so at any moment most questions differ.
        question = CHAT_QUESTIONS[(w * 7 + i) % len(CHAT_QUESTIONS)]
        return Call(
            "POST",
            f"/api/v1/chat/sessions/{session_id}/messages",
            json={"content": question},
            headers=headers,
        )

    api_pid, bare_pid = pids
    common: dict[str, Any] = {
        "client_kind": client_kind,
        "concurrency": concurrency,
        "seconds": seconds,
        "warmup": 2.0,
    }
    bare_result = await drive(
        "bare FastAPI endpoint", bare_call, base_url=bare, server_pid=bare_pid, **common
    )
    search = await drive(
        "cached guide search", search_call, base_url=api, server_pid=api_pid, **common
    )
    chat = await drive(
        "offline chat (saved to PG)", chat_call, base_url=api, server_pid=api_pid, **common
    )
    for result in (search, chat):
        result.ratio_to_bare = round(result.rps / bare_result.rps, 3) if bare_result.rps else None
    search.target = ">= 0.5x bare rps and p95 < 50 ms"
    search.met = (search.ratio_to_bare or 0) >= 0.5 and search.p95_ms < 50 and search.errors == 0
    chat.target = "p95 < 150 ms"
    chat.met = chat.p95_ms < 150 and chat.errors == 0
    return [bare_result, search, chat]


def print_table(results: list[Result]) -> None:
    header = f"{'scenario':<28}{'requests':>9}{'errors':>7}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}"
    header += f"{'p99 ms':>9}{'srv cpu/req':>12}{'cli cpu/req':>12}{'x bare':>8}  target"
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = f"{r.ratio_to_bare:.2f}" if r.ratio_to_bare is not None else "-"
        verdict = "" if r.met is None else (" met" if r.met else " NOT met")
        cpu = f"{r.server_cpu_ms_per_request:.3f}" if r.server_cpu_ms_per_request else "-"
        client_cpu = f"{r.client_cpu_ms_per_request:.3f}" if r.client_cpu_ms_per_request else "-"
        print(
            f"{r.scenario:<28}{r.requests:>9}{r.errors:>7}{r.rps:>9.1f}{r.p50_ms:>9.2f}"
            f"{r.p95_ms:>9.2f}{r.p99_ms:>9.2f}{cpu:>12}{client_cpu:>12}{ratio:>8}"
            f"  {r.target}{verdict}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--client",
        choices=["aiohttp", "httpx"],
        default="aiohttp",
        help="load generator client (default aiohttp; httpx costs more CPU than the server)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes of both servers (default 2, one per core of a 2-core machine)",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="API log level (INFO logs every request)"
    )
    parser.add_argument(
        "--hybrid",
        action="store_true",
        help="hybrid search beside BM25F alone, with a local embeddings server, and the import "
        "speed of the MyFixit guides and their vectors (bench/hybrid_search_load.py)",
    )
    parser.add_argument(
        "--myfixit-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "myfixit"
    )
    args = parser.parse_args()
    if args.hybrid:
        import hybrid_search_load

        return hybrid_search_load.main(args)

    before_load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="repairgpt-bench-"))
    postgres = PostgresServer().init().start()
    redis_server = RedisServer().start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        database_url = postgres.create_database("bench")
        api_port, bare_port = free_port(), free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "DATA_DIR": str(work),
            "LOG_LEVEL": args.log_level,
            # Limiting stays on (every request still counts in Redis) but never trips.
            "RATE_LIMIT_REQUESTS": "100000000",
        }
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "READ_ONLY_MODE", "MAINTENANCE_MODE"):
            env.pop(name, None)
        processes.append(
            start_process(
                [
                    str(BIN / "repairgpt"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(api_port),
                    "--workers",
                    str(args.workers),
                ],
                env,
                api_port,
                work / "api.log",
            )
        )
        (work / "bare_app.py").write_text(BARE_APP)
        processes.append(
            start_process(
                [
                    str(BIN / "python"),
                    "-m",
                    "uvicorn",
                    "bare_app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(bare_port),
                    "--no-access-log",
                    "--workers",
                    str(args.workers),
                    "--app-dir",
                    str(work),
                ],
                env,
                bare_port,
                work / "bare.log",
            )
        )
        results = asyncio.run(
            run_scenarios(
                f"http://127.0.0.1:{api_port}",
                f"http://127.0.0.1:{bare_port}",
                (processes[0].pid, processes[1].pid),
                args.concurrency,
                args.seconds,
                args.client,
            )
        )
    finally:
        for process in processes:
            stop_process(process)
        redis_server.stop()
        postgres.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"client {args.client}, concurrency {args.concurrency}, "
        f"{args.workers} worker process(es) per server, {args.seconds:g} s per scenario"
    )
    print_table(results)
    # The default run is api_load.json; a run with another client or worker count gets its own.
    variant = [
        *([args.client] if args.client != "aiohttp" else []),
        *([f"workers{args.workers}"] if args.workers != 2 else []),
    ]
    results_file = RESULTS_DIR / ("-".join(["api_load", *variant]) + ".json")
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(
        json.dumps(
            {
                "benchmark": "api_load",
                "concurrency": args.concurrency,
                "client": args.client,
                "workers": args.workers,
                "seconds_per_scenario": args.seconds,
                "api_log_level": args.log_level,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average_before": before_load,
                "load_average_after": os.getloadavg(),
                "note": (
                    "load generator, API, PostgreSQL and Redis share the same machine; "
                    "server_cpu_ms_per_request is the CPU time per request (ms) of the server's "
                    "processes (all its workers); client_cpu_ms_per_request the load generator's"
                ),
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {results_file.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
