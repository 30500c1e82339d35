"""The operator's /metrics and /healthz endpoint."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from repairgpt_operator import metrics


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = metrics.serve("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_count_reconciliations_by_result(endpoint: str) -> None:
    metrics.record_reconciliation("create", wrote=True, failed=False, duration_seconds=0.2)
    metrics.record_reconciliation("resync", wrote=False, failed=False, duration_seconds=0.01)
    metrics.record_reconciliation("update", wrote=False, failed=True, duration_seconds=0.05)
    code, text = _get(f"{endpoint}/metrics")
    assert code == 200
    assert 'repairgpt_operator_reconciliations_total{result="changed",trigger="create"}' in text
    assert 'repairgpt_operator_reconciliations_total{result="unchanged",trigger="resync"}' in text
    assert 'repairgpt_operator_reconciliations_total{result="error",trigger="update"}' in text
    assert "repairgpt_operator_reconcile_duration_seconds_bucket" in text
    assert "repairgpt_operator_managed_instances" in text


def test_healthz_follows_the_heartbeat(endpoint: str) -> None:
    metrics.heartbeat()
    assert _get(f"{endpoint}/healthz")[0] == 200
    assert metrics.is_alive()
    assert not metrics.is_alive(now=time.monotonic() + metrics.HEARTBEAT_TIMEOUT_SECONDS + 1)


def test_unknown_paths_are_404(endpoint: str) -> None:
    assert _get(f"{endpoint}/nope")[0] == 404
