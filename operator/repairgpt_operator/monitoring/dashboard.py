"""The Grafana dashboard of one instance: the API's traffic and the operator's view of it.

Its queries use the selectors of the alerting rules (`rules.py`), so a panel and the alert on
the same series always agree on which instance they look at.
"""

from __future__ import annotations

import hashlib
from typing import Any

from repairgpt_operator.monitoring.rules import api_selector, operator_selector
from repairgpt_operator.spec import Instance

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEARCH_ENDPOINT = "/api/v1/guides"
# Grafana dashboard uids are at most 40 characters.
UID_LENGTH = 40


def dashboard_uid(instance: Instance) -> str:
    """A stable uid per instance (namespace and name), at most 40 characters."""
    uid = f"repairgpt-{instance.namespace}-{instance.name}"
    if len(uid) <= UID_LENGTH:
        return uid
    digest = hashlib.sha256(uid.encode()).hexdigest()[:10]
    return f"{uid[: UID_LENGTH - 11]}-{digest}"


def _panel(
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    grid: tuple[int, int, int, int],
    description: str = "",
) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "expr": expr,
                "legendFormat": legend,
                "datasource": DATASOURCE,
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def api_panels(instance: Instance) -> list[dict[str, Any]]:
    """The operations guide's three panels, then chat, search and cache."""
    return guide_panels(instance) + usage_panels(instance)


def guide_panels(instance: Instance) -> list[dict[str, Any]]:
    """The operations guide's panels: p95 latency, request rate, 5xx rate."""
    api = api_selector(instance)
    five_xx = api_selector(instance, 'status=~"5.."')
    return [
        _panel(
            "Response time (p95)",
            [
                (
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(http_request_duration_seconds_bucket{api}[5m])))",
                    "p95",
                )
            ],
            unit="s",
            grid=(0, 0, 8, 8),
        ),
        _panel(
            "Requests per second by method and endpoint",
            [
                (
                    f"sum by (method, endpoint) (rate(http_requests_total{api}[5m]))",
                    "{{method}} {{endpoint}}",
                )
            ],
            unit="reqps",
            grid=(8, 0, 8, 8),
        ),
        _panel(
            "5xx per second by endpoint",
            [(f"sum by (endpoint) (rate(http_requests_total{five_xx}[5m]))", "{{endpoint}}")],
            unit="reqps",
            grid=(16, 0, 8, 8),
        ),
    ]


def usage_panels(instance: Instance) -> list[dict[str, Any]]:
    """Chat answers by engine, guide search latency, search cache hit ratio."""
    api = api_selector(instance)
    search = api_selector(instance, f'endpoint="{SEARCH_ENDPOINT}"')
    hits = api_selector(instance, 'result="hit"')
    return [
        _panel(
            "Chat answers per second by engine",
            [(f"sum by (engine) (rate(repairgpt_chat_answers_total{api}[5m]))", "{{engine}}")],
            unit="reqps",
            grid=(0, 8, 8, 8),
            description="offline-fallback: the model endpoint failed and the offline engine "
            "answered instead.",
        ),
        _panel(
            "Guide search latency (p50, p95)",
            [
                (
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(http_request_duration_seconds_bucket{search}[5m])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.95)
            ],
            unit="s",
            grid=(8, 8, 8, 8),
        ),
        _panel(
            "Search cache hit ratio",
            [
                (
                    f"sum(rate(repairgpt_search_cache_requests_total{hits}[5m])) / "
                    f"sum(rate(repairgpt_search_cache_requests_total{api}[5m]))",
                    "hit ratio",
                )
            ],
            unit="percentunit",
            grid=(16, 8, 8, 8),
        ),
    ]


def operator_panels(instance: Instance) -> list[dict[str, Any]]:
    """What the operator reports: phase, conditions, backup age, failover."""
    sel = operator_selector(instance)
    return [
        _panel(
            "Phase",
            [(f"repairgpt_instance_phase{sel} == 1", "{{phase}}")],
            kind="state-timeline",
            grid=(0, 16, 12, 6),
        ),
        _panel(
            "Conditions",
            [(f"repairgpt_instance_condition{sel} == 1", "{{type}}={{status}}")],
            kind="state-timeline",
            grid=(12, 16, 12, 6),
        ),
        _panel(
            "Age of the newest successful backup",
            [(f"time() - repairgpt_operator_backup_last_success_timestamp_seconds{sel}", "age")],
            unit="s",
            kind="stat",
            grid=(0, 22, 8, 5),
        ),
        _panel(
            "Database in use (1: replica, failed over)",
            [(f"repairgpt_instance_failed_over{sel}", "failed over")],
            kind="stat",
            grid=(8, 22, 8, 5),
        ),
        _panel(
            "Consecutive failed reconciliations",
            [(f"repairgpt_operator_instance_consecutive_failures{sel}", "failures")],
            kind="stat",
            grid=(16, 22, 8, 5),
        ),
    ]


def dashboard(instance: Instance) -> dict[str, Any]:
    """The dashboard JSON (Grafana's model; `id` null so that it is imported as new)."""
    panels = api_panels(instance) + operator_panels(instance)
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "id": None,
        "uid": dashboard_uid(instance),
        "title": f"RepairGPT {instance.namespace}/{instance.name}",
        "tags": ["repairgpt"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                }
            ]
        },
        "panels": panels,
    }
