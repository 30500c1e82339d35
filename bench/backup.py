"""Backup and restore throughput and memory of `repairgpt backup` beside `pg_dump | gzip`.

Builds (once, cached) a PostgreSQL database of at least 1 GB, then in one run measures:
  - `repairgpt backup create` into moto's S3 server vs `pg_dump | gzip -6 > file` (the CLI
    compresses at the same level 6, on 2 threads by default; also measured with 1 thread)
  - `repairgpt backup restore` (streamed, and with --verify-first) vs `gunzip -c file | psql`
Throughput is database size (pg_database_size, MB = 10^6 bytes) per second of wall time. Peak
memory is the high-water mark (VmHWM) of the CLI process itself, polled from /proc; moto keeps
objects in its own memory and is not counted. Results: bench/results/backup.json.

Usage: .venv/bin/python bench/backup.py [--cache DIR] [--size-gb 1.0] [--rebuild]
(the server stays in $REPAIRGPT_CACHE/bench-backup, default /var/tmp/repairgpt-cache)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.utils.servers import PostgresServer, S3Server  # noqa: E402

DB_NAME = "bench"
PG_DUMP_FLAGS = ["--format=plain", "--clean", "--if-exists", "--no-owner", "--no-privileges"]
BATCH_ROWS = 250_000


def cache_dir(given: str | None) -> Path:
    # Not under ~/.cache: root's home is closed to the `postgres` user that runs the server.
    base = given or os.environ.get("REPAIRGPT_CACHE") or "/var/tmp/repairgpt-cache"
    return Path(base) / "bench-backup" if not given else Path(given)


def start_server(root: Path) -> PostgresServer:
    """The cached throwaway server; created on the first run, reused afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    port_file = root / "port"
    if (root / "pg" / "data" / "PG_VERSION").exists() and port_file.exists():
        server = PostgresServer(root / "pg", port=int(port_file.read_text()))
        server.stop("immediate")  # a run that was killed may have left it running
        return server.start()
    shutil.rmtree(root / "pg", ignore_errors=True)
    (root / "pg").mkdir()
    server = PostgresServer(root / "pg")
    server.init("shared_buffers = '256MB'", "max_wal_size = '4GB'", "checkpoint_timeout = '30min'")
    port_file.write_text(str(server.port))
    return server.start()


def database_size(server: PostgresServer, name: str) -> int:
    found = server.psql(
        f"SELECT pg_database_size('{name}') FROM pg_database WHERE datname = '{name}'"
    )
    return int(found) if found else 0


def build_database(server: PostgresServer, size_bytes: int) -> None:
    server.psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    server.psql(f"CREATE DATABASE {DB_NAME}")
    server.psql(
        """
        CREATE TABLE guides (id bigint PRIMARY KEY, device text NOT NULL, title text NOT NULL,
            summary text, body text NOT NULL, meta jsonb, rating numeric(4, 2),
            created_at timestamptz NOT NULL);
        CREATE TABLE steps (guide_id bigint NOT NULL, position int NOT NULL, body text NOT NULL,
            PRIMARY KEY (guide_id, position));
        """,
        DB_NAME,
    )
    start, batch = 0, 0
    while database_size(server, DB_NAME) < size_bytes:
        lo, hi = start + 1, start + BATCH_ROWS
        server.psql(
            f"""
            INSERT INTO guides
            SELECT i, 'device-' || (i % 5000), 'How to replace the part ' || md5(i::text),
                   CASE WHEN i % 4 = 0 THEN NULL ELSE 'Replace a worn part of device ' || i END,
                   md5(i::text) || ' remove the screws ' || md5((i * 7)::text)
                     || ' lift the cover with a spudger ' || md5((i * 13)::text),
                   jsonb_build_object('tools', jsonb_build_array('P2', 'spudger'), 'n', i),
                   (i % 500) / 100.0,
                   timestamptz '2024-01-01' + i * interval '1 second'
            FROM generate_series({lo}, {hi}) AS i;
            INSERT INTO steps
            SELECT 1 + i / 3, i % 3, 'Step ' || i || ': ' || md5(i::text) || ' then carefully'
            FROM generate_series({lo * 3}, {hi * 3 + 2}) AS i;
            """,
            DB_NAME,
        )
        start, batch = hi, batch + 1
        size = database_size(server, DB_NAME)
        print(f"  generated {hi:,} guides, database {size / 1e9:.2f} GB", file=sys.stderr)
    server.psql("VACUUM ANALYZE", DB_NAME)


def backup_command() -> list[str]:
    main_cli = REPO_ROOT / "app" / "repairgpt" / "cli.py"
    script = Path(sys.executable).parent / "repairgpt"
    if script.exists() and main_cli.exists() and "add_backup_commands" in main_cli.read_text():
        return [str(script), "backup"]
    return [sys.executable, "-m", "repairgpt.backup", "backup"]


@dataclass
class Run:
    seconds: float
    returncode: int
    peak_rss_bytes: int = 0  # VmHWM of the measured process
    peak_tree_rss_bytes: int = 0  # largest sampled sum of VmRSS over the process and its children
    stderr: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(child) for child in text)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def run_measured(command: list[str], *, env: dict[str, str], shell: bool = False) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(
        command if not shell else ["bash", "-o", "pipefail", "-c", command[0]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0, 0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _status_kib(process.pid, "VmHWM"))
            tree = [process.pid]
            for pid in list(tree):
                tree.extend(_children(pid))
            for pid in list(tree)[1:]:
                tree.extend(c for c in _children(pid) if c not in tree)
            peak[1] = max(peak[1], sum(_status_kib(pid, "VmRSS") for pid in tree))
            stop.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    poller.join()
    return Run(seconds, process.returncode, peak[0] * 1024, peak[1] * 1024, stderr)


def check(run: Run, what: str) -> None:
    if run.returncode != 0:
        raise SystemExit(f"{what} failed ({run.returncode}):\n{run.stderr[-3000:]}")


def median_run(found: list[Run]) -> Run:
    """The median run by time, carrying the highest memory seen in any run."""
    ordered = sorted(found, key=lambda r: r.seconds)
    middle = ordered[(len(ordered) - 1) // 2]
    if len(ordered) % 2 == 0:
        middle = Run(
            (ordered[len(ordered) // 2 - 1].seconds + ordered[len(ordered) // 2].seconds) / 2,
            0,
            extra=dict(middle.extra),
        )
    middle.extra.pop("load_average", None)
    middle.peak_rss_bytes = max(r.peak_rss_bytes for r in found)
    middle.peak_tree_rss_bytes = max(r.peak_tree_rss_bytes for r in found)
    return middle


def fresh_database(server: PostgresServer, name: str) -> str:
    server.psql(f"DROP DATABASE IF EXISTS {name}")
    return server.create_database(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=None, help="where the benchmark server lives")
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the database")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each pipeline")
    args = parser.parse_args()

    root = cache_dir(args.cache)
    server = start_server(root)
    s3 = S3Server().start()
    work = Path(tempfile.mkdtemp(prefix="repairgpt-bench-"))
    try:
        target_size = int(args.size_gb * 1e9)
        if args.rebuild or database_size(server, DB_NAME) < target_size:
            print(f"building a {args.size_gb} GB database in {root} ...", file=sys.stderr)
            build_database(server, target_size)
        db_size = database_size(server, DB_NAME)
        source_url = server.url_for(DB_NAME)
        rows = int(
            server.psql(
                "SELECT (SELECT count(*) FROM guides) + (SELECT count(*) FROM steps)", DB_NAME
            )
        )
        print(f"database: {db_size / 1e9:.2f} GB, {rows:,} rows", file=sys.stderr)

        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.client().create_bucket(Bucket=bucket)
        env = {**os.environ, **s3.env, "PG_BIN_DIR": str(server.bin_dir)}
        pg_dump = str(server.bin_dir / "pg_dump")
        psql = str(server.bin_dir / "psql")
        dump_file = work / "plain.sql.gz"

        plain_backup = [f"{pg_dump} {' '.join(PG_DUMP_FLAGS)} --dbname={source_url}"
                        f" | gzip -6 > {dump_file}"]  # fmt: skip
        cli_backup = [*backup_command(), "create", "--database-url", source_url, "--bucket",
                      bucket, "--prefix", "bench", "--progress-interval", "-1"]  # fmt: skip
        psql_env = {**env, "PGOPTIONS": "-c client_min_messages=warning"}

        def measure(name: str) -> Run:
            print(f"  {name} ...", file=sys.stderr, flush=True)
            if "restore" in name:
                target = fresh_database(server, "bench_restore")
            # Every run starts from a checkpoint: otherwise the checkpoint that the previous
            # runs' WAL triggers lands in whichever run happens to be going on.
            server.psql("CHECKPOINT")
            if name == "plain_backup":
                run = run_measured(plain_backup, env=env, shell=True)
                run.extra["file_bytes"] = dump_file.stat().st_size
            elif name == "cli_backup":
                run = run_measured(cli_backup, env=env)
            elif name == "cli_backup_1thread":
                run = run_measured([*cli_backup, "--compress-threads", "1"], env=env)
            elif name == "plain_restore":
                run = run_measured(
                    [f"gunzip -c {dump_file} | {psql} -X -q -v ON_ERROR_STOP=1"
                     f" --dbname={target} > /dev/null"],
                    env=psql_env,
                    shell=True,
                )  # fmt: skip
            else:
                first = ["--verify-first"] if name == "cli_restore_verify_first" else []
                run = run_measured(
                    [*backup_command(), "restore", "latest", "--bucket", bucket, "--prefix",
                     "bench", "--target-url", target, "--progress-interval", "-1", *first],
                    env=env,
                )  # fmt: skip
            check(run, name)
            run.extra["load_average"] = round(os.getloadavg()[0], 1)
            print(f"    {run.seconds:.1f} s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
            return run

        # The machine is shared, so each pipeline runs in every round and the order alternates;
        # a run's figure is the median over rounds.
        names = [
            "plain_backup",
            "cli_backup",
            "cli_backup_1thread",
            "plain_restore",
            "cli_restore",
            "cli_restore_verify_first",
        ]
        runs: dict[str, list[Run]] = {name: [] for name in names}
        for round_number in range(args.rounds):
            print(f"round {round_number + 1} of {args.rounds}", file=sys.stderr)
            backups, restores = names[:3], names[3:]
            if round_number % 2:
                backups, restores = backups[::-1], restores[::-1]
            for name in [*backups, *restores]:
                runs[name].append(measure(name))
        server.psql("DROP DATABASE IF EXISTS bench_restore")
    finally:
        s3.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    results = {name: median_run(found) for name, found in runs.items()}

    def mb_s(run: Run) -> float:
        return db_size / 1e6 / run.seconds

    report: dict[str, Any] = {
        "benchmark": "backup",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database_bytes": db_size,
        "rows": rows,
        "runs": {
            name: {
                "seconds": round(run.seconds, 2),
                "throughput_mb_s": round(mb_s(run), 1),
                "peak_rss_mb": round(run.peak_rss_bytes / 1e6, 1),
                "peak_process_tree_rss_mb": round(run.peak_tree_rss_bytes / 1e6, 1),
                "all_seconds": [round(r.seconds, 2) for r in runs[name]],
                "load_averages": [r.extra.get("load_average") for r in runs[name]],
                **run.extra,
            }
            for name, run in results.items()
        },
    }
    backup_ratio = mb_s(results["cli_backup"]) / mb_s(results["plain_backup"])
    single_ratio = mb_s(results["cli_backup_1thread"]) / mb_s(results["plain_backup"])
    restore_ratio = mb_s(results["cli_restore"]) / mb_s(results["plain_restore"])
    first_ratio = mb_s(results["cli_restore_verify_first"]) / mb_s(results["plain_restore"])
    peak = max(results[name].peak_rss_bytes for name in names if name.startswith("cli"))

    def paired(name: str, plain: str) -> float:
        # Runs of one round ran back to back, so their ratio is less exposed to the machine's
        # drift between rounds than the ratio of medians.
        ratios = sorted(p.seconds / c.seconds for c, p in zip(runs[name], runs[plain], strict=True))
        return ratios[len(ratios) // 2]

    report["summary"] = {
        "backup_throughput_ratio": round(backup_ratio, 3),
        "restore_throughput_ratio": round(restore_ratio, 3),
        "backup_1thread_throughput_ratio": round(single_ratio, 3),
        "restore_verify_first_throughput_ratio": round(first_ratio, 3),
        "median_paired_ratios": {
            "backup": round(paired("cli_backup", "plain_backup"), 3),
            "restore": round(paired("cli_restore", "plain_restore"), 3),
            "restore_verify_first": round(paired("cli_restore_verify_first", "plain_restore"), 3),
        },
        "cli_peak_rss_mb": round(peak / 1e6, 1),
        "targets": {"throughput_ratio": 0.9, "peak_rss_mb": 150},
        "targets_met": backup_ratio >= 0.9 and restore_ratio >= 0.9 and peak < 150e6,
    }

    print(
        f"\ndatabase {db_size / 1e9:.2f} GB, {rows:,} rows, {os.cpu_count()} CPUs, "
        f"median of {args.rounds} rounds"
    )
    print(f"{'run':<26}{'seconds':>9}{'MB/s':>9}{'peak RSS MB':>13}{'tree RSS MB':>13}")
    for name, run in results.items():
        print(
            f"{name:<26}{run.seconds:>9.1f}{mb_s(run):>9.1f}"
            f"{run.peak_rss_bytes / 1e6:>13.1f}{run.peak_tree_rss_bytes / 1e6:>13.1f}"
        )
    print(
        f"backup {backup_ratio:.2f}x ({single_ratio:.2f}x with one compression thread) and "
        f"restore {restore_ratio:.2f}x ({first_ratio:.2f}x with --verify-first) of the plain "
        "pipelines (target >= 0.9x); "
        f"CLI peak RSS {peak / 1e6:.0f} MB (target < 150 MB)"
    )
    pairs = report["summary"]["median_paired_ratios"]
    print(
        f"median of the per-round ratios: backup {pairs['backup']:.2f}x, restore "
        f"{pairs['restore']:.2f}x ({pairs['restore_verify_first']:.2f}x with --verify-first)"
    )
    out = REPO_ROOT / "bench" / "results" / "backup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
