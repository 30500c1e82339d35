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
    if not SEED_FILE.is_file():
        env["SEED_GUIDES_FILE"] = str(SAMPLE_GUIDES)
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
            assert ready["status"] == "ready" and ready["guides"] > 0
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
