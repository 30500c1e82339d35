"""Metric names follow Prometheus' conventions, and no client can add series to /metrics."""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from repairgpt.core.metrics import HttpMetrics
from repairgpt_operator import metrics as operator_metrics
from repairgpt_operator.metrics import InstanceSnapshot
from tests.app.conftest import ServedAPI, served_api

# Label names that would hold what a client chose: one series per distinct value.
UNBOUNDED_LABELS = frozenset({"path", "url", "uri", "id", "query", "request_id", "client"})
# A suffix naming a base unit: seconds and bytes, never ms or kb.
UNIT_SUFFIXES = ("_seconds", "_bytes", "_ratio", "_info")


def _families(registry: CollectorRegistry, prefix: str = "") -> list[tuple[str, str, set[str]]]:
    """(name, type, label names) of each metric family in the registry."""
    families = []
    for family in registry.collect():
        if not family.name.startswith(prefix):
            continue
        labels = {key for sample in family.samples for key in sample.labels}
        families.append((family.name, family.type, labels - {"le", "quantile"}))
    return families


def _declared_labels(*holders: object) -> dict[str, set[str]]:
    """The label names each metric object declares, also of those without samples yet."""
    return {
        value._name: set(value._labelnames)
        for holder in holders
        for value in vars(holder).values()
        if isinstance(value, MetricWrapperBase)
    }


def _registries() -> list[tuple[str, str, set[str]]]:
    app = HttpMetrics()
    # One snapshot, so that the per-instance gauges show their labels; forgotten afterwards.
    snapshot = InstanceSnapshot(
        phase="Running", conditions=(("Ready", "True"),), backup_last_failed=False
    )
    operator_metrics.INSTANCES.record("conventions", "probe", snapshot)
    try:
        families = _families(app.registry) + _families(REGISTRY, "repairgpt_")
    finally:
        operator_metrics.INSTANCES.forget("conventions", "probe")
    declared = _declared_labels(app, operator_metrics)
    return [(name, kind, labels | declared.get(name, set())) for name, kind, labels in families]


def test_counters_end_in_total_and_durations_and_sizes_in_base_units() -> None:
    families = _registries()
    assert {name for name, _, _ in families} >= {
        "http_requests",
        "http_request_duration_seconds",
        "repairgpt_operator_reconciliations",
        "repairgpt_operator_reconcile_duration_seconds",
    }
    for name, kind, _ in families:
        rendered = f"{name}_total" if kind == "counter" else name
        assert not any(unit in rendered for unit in ("_ms", "_milliseconds", "_kb", "_mb")), name
        if kind in ("histogram", "summary"):
            assert name.endswith(UNIT_SUFFIXES), f"{name}: a distribution names its base unit"
        if "duration" in name or "latency" in name or "timestamp" in name:
            assert name.endswith("_seconds"), f"{name}: times are in seconds"
        if "size" in name:
            assert name.endswith("_bytes"), f"{name}: sizes are in bytes"


def test_no_metric_is_labelled_with_what_a_client_chose() -> None:
    for name, _, labels in _registries():
        assert not labels & UNBOUNDED_LABELS, f"{name} has labels {labels & UNBOUNDED_LABELS}"


def test_methods_outside_the_http_verbs_share_one_label_value() -> None:
    app = HttpMetrics()
    for method in ("GET", "PROPFIND", "MKCOL", "PURGE"):
        app.observe(method=method, endpoint="unmatched", status=404, seconds=0.001)
    counted = {
        sample.labels["method"]: sample.value
        for family in text_string_to_metric_families(app.render().decode())
        for sample in family.samples
        if sample.name == "http_requests_total"
    }
    assert counted == {"GET": 1.0, "other": 3.0}


# Against a real server: what one kind of request looks like, with random parts.
def _word(rng: random.Random, size: int = 12) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits + "-_.~", k=size))


REQUEST_SHAPES: list[Callable[[random.Random], tuple[str, str]]] = [
    lambda rng: ("GET", f"/{_word(rng)}/{_word(rng, 30)}"),
    lambda rng: ("GET", f"/api/v1/{_word(rng)}"),
    lambda rng: ("GET", f"/api/v1/guides/{rng.randrange(10**7, 10**9)}"),
    lambda rng: ("GET", f"/api/v1/guides/{_word(rng)}x"),
    lambda rng: ("GET", f"/api/v1/devices/{rng.randrange(10**7, 10**9)}"),
    lambda rng: ("GET", f"/api/v1/guides?q={_word(rng)}&limit={rng.randrange(1, 50)}"),
    lambda rng: ("GET", f"/api/v1/chat/sessions/{_word(rng, 32)}/messages"),
    lambda rng: ("POST", f"/api/v1/{_word(rng)}/{_word(rng)}"),
    lambda rng: ("DELETE", f"/api/v1/guides/{rng.randrange(10**7, 10**9)}"),
    lambda rng: (rng.choice(["PROPFIND", "MKCOL", "PURGE", "LOCK", "COPY"]), f"/{_word(rng)}"),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAPI]:
    # No rate limit: its 429 would be one more (bounded) status the warm-up did not see.
    folder = tmp_path_factory.mktemp("cardinality")
    with served_api(folder, RATE_LIMIT_REQUESTS="0") as served:
        yield served


def _series(client: httpx.Client) -> set[str]:
    text = client.get("/metrics").text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}


def test_a_thousand_random_paths_add_no_series(api: ServedAPI) -> None:
    rng = random.Random(20261130)
    with httpx.Client(base_url=api.base_url, timeout=10) as client:
        # Every kind of request once, and /metrics itself, so each label set exists.
        for shape in REQUEST_SHAPES:
            client.request(*shape(rng))
        client.get("/metrics")
        before = _series(client)
        statuses: dict[int, int] = {}
        for _ in range(1000):
            response = client.request(*rng.choice(REQUEST_SHAPES)(rng))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        after = _series(client)
    assert sum(statuses.values()) == 1000 and 404 in statuses, statuses
    assert len(after) == len(before), sorted(after - before)[:20]
    assert after == before
