"""`repairgpt serve` as a real process on a fresh machine: no settings, it just works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from repairgpt.services.importer import SEED_FILE
from tests.app.conftest import SAMPLE_GUIDES
from tests.utils.servers import free_port, port_open, wait_until

REPAIRGPT = str(Path(sys.executable).parent / "repairgpt")


@pytest.mark.slow
def test_serve_on_a_fresh_machine_migrates_seeds_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "S3_BUCKET", "OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.pop("SEED_GUIDES_FILE", None)
    # The bundled seed guides, not a stand-in: the package must ship them.
    seed_guides = len(json.loads(SEED_FILE.read_text(encoding="utf-8"))["guides"])
    process = subprocess.Popen(
        [REPAIRGPT, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: port_open(port) or process.poll() is not None, timeout=60, what="serve")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/health").json() == {"status": "ok"}
            ready = client.get("/ready").json()
            assert ready["status"] == "ready" and ready["guides"] == seed_guides
            hits = client.get("/api/v1/guides", params={"q": "battery"}).json()
            assert hits["count"] > 0
            session = client.post("/api/v1/chat/sessions").json()
            answer = client.post(
                f"/api/v1/chat/sessions/{session['id']}/messages",
                json={"content": "バッテリーの減りが早い"},
                headers={"Authorization": f"Bearer {session['token']}"},
            ).json()
            assert answer["language"] == "ja" and answer["saved"] is True
            assert "http_requests_total" in client.get("/metrics").text
        assert (tmp_path / "repairgpt.db").is_file()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert records, f"expected JSON log lines, got: {stderr[:500]}"
    started = next(r for r in records if r["message"] == "starting RepairGPT API")
    assert started["config"]["database"].startswith("sqlite:///")
    access = [r for r in records if r.get("logger") == "repairgpt.access"]
    assert any(r["endpoint"] == "/api/v1/guides" and r["status"] == 200 for r in access)


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children.extend(int(child) for child in task.read_text().split())
    return children


@pytest.mark.slow
def test_serve_with_two_workers_seeds_once_and_both_workers_answer(
    tmp_path: Path, postgres_url: str
) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "S3_BUCKET", "OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.update(DATABASE_URL=postgres_url, SEED_GUIDES_FILE=str(SAMPLE_GUIDES))
    seeded = len(json.loads(SAMPLE_GUIDES.read_text(encoding="utf-8"))["guides"])
    process = subprocess.Popen(
        [REPAIRGPT, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: port_open(port) or process.poll() is not None, timeout=90, what="serve")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        # No keep-alive: every request is a new connection, which either worker may accept.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=10, limits=no_reuse
        ) as client:
            # Both workers come up with the index of the guides seeded once, before they started.
            wait_until(lambda: len(_children(process.pid)) >= 2, timeout=60, what="workers")
            for _ in range(20):
                ready = client.get("/ready").json()
                assert ready["status"] == "ready" and ready["guides"] == seeded
            session = client.post("/api/v1/chat/sessions").json()
            headers = {"Authorization": f"Bearer {session['token']}"}
            for _ in range(6):
                answer = client.post(
                    f"/api/v1/chat/sessions/{session['id']}/messages",
                    json={"content": "Joy-Con drift"},
                    headers=headers,
                ).json()
                assert answer["saved"] is True and answer["citations"]
            history = client.get(
                f"/api/v1/chat/sessions/{session['id']}/messages", headers=headers
            ).json()
            assert history["count"] == 12
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
