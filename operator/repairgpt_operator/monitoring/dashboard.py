"""The Grafana dashboard of one instance: the API's traffic and the operator's view of it.

Its queries use the selectors of the alerting rules (`rules.py`), so a panel and the alert on
the same series always agree on which instance they look at.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.monitoring.rules import api_selector, operator_selector

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


# Grafana lays panels out on a grid 24 columns wide.
GRID_COLUMNS = 24


@dataclass(frozen=True)
class Panel:
    """One panel: its queries (PromQL and legend), unit and visualisation."""

    title: str
    queries: list[tuple[str, str]]
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""

    def to_json(self, grid: tuple[int, int, int, int]) -> dict[str, Any]:
        x, y, w, h = grid
        return {
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": {"unit": self.unit}, "overrides": []},
            "options": {},
            "targets": [
                {
                    "refId": chr(ord("A") + i),
                    "expr": expr,
                    "legendFormat": legend,
                    "datasource": DATASOURCE,
                }
                for i, (expr, legend) in enumerate(self.queries)
            ],
        }


def layout(rows: list[tuple[int, list[Panel]]]) -> list[dict[str, Any]]:
    """Rows of panels, top to bottom, each (height, panels); a row's panels share its width."""
    placed = []
    y = 0
    for height, panels in rows:
        width = GRID_COLUMNS // len(panels)
        for column, panel in enumerate(panels):
            placed.append(panel.to_json((column * width, y, width, height)))
        y += height
    return placed


def guide_panels(instance: Instance) -> list[Panel]:
    """The operations guide's panels: p95 latency, request rate, 5xx rate."""
    api = api_selector(instance)
    five_xx = api_selector(instance, 'status=~"5.."')
    return [
        Panel(
            "Response time (p95)",
            [
                (
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(http_request_duration_seconds_bucket{api}[5m])))",
                    "p95",
                )
            ],
            unit="s",
        ),
        Panel(
            "Requests per second by method and endpoint",
            [
                (
                    f"sum by (method, endpoint) (rate(http_requests_total{api}[5m]))",
                    "{{method}} {{endpoint}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "5xx per second by endpoint",
            [(f"sum by (endpoint) (rate(http_requests_total{five_xx}[5m]))", "{{endpoint}}")],
            unit="reqps",
        ),
    ]


def usage_panels(instance: Instance) -> list[Panel]:
    """Chat answers by engine, guide search latency, search cache hit ratio."""
    api = api_selector(instance)
    search = api_selector(instance, f'endpoint="{SEARCH_ENDPOINT}"')
    hits = api_selector(instance, 'result="hit"')
    return [
        Panel(
            "Chat answers per second by engine",
            [(f"sum by (engine) (rate(repairgpt_chat_answers_total{api}[5m]))", "{{engine}}")],
            unit="reqps",
            description="offline-fallback: the model endpoint failed and the offline engine "
            "answered instead.",
        ),
        Panel(
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
        ),
        Panel(
            "Search cache hit ratio",
            [
                (
                    f"sum(rate(repairgpt_search_cache_requests_total{hits}[5m])) / "
                    f"sum(rate(repairgpt_search_cache_requests_total{api}[5m]))",
                    "hit ratio",
                )
            ],
            unit="percentunit",
        ),
    ]


def state_panels(instance: Instance) -> list[Panel]:
    """What the operator reports over time: phase and conditions."""
    sel = operator_selector(instance)
    timeline = "state-timeline"
    return [
        Panel("Phase", [(f"repairgpt_instance_phase{sel} == 1", "{{phase}}")], kind=timeline),
        Panel(
            "Conditions",
            [(f"repairgpt_instance_condition{sel} == 1", "{{type}}={{status}}")],
            kind=timeline,
        ),
    ]


def stat_panels(instance: Instance) -> list[Panel]:
    """What the operator reports now: backup age, failover, failed reconciliations."""
    sel = operator_selector(instance)
    return [
        Panel(
            "Age of the newest successful backup",
            [(f"time() - repairgpt_operator_backup_last_success_timestamp_seconds{sel}", "age")],
            unit="s",
            kind="stat",
        ),
        Panel(
            "Database in use (1: replica, failed over)",
            [(f"repairgpt_instance_failed_over{sel}", "failed over")],
            kind="stat",
        ),
        Panel(
            "Consecutive failed reconciliations",
            [(f"repairgpt_operator_instance_consecutive_failures{sel}", "failures")],
            kind="stat",
        ),
    ]


def dashboard(instance: Instance) -> dict[str, Any]:
    """The dashboard JSON (Grafana's model; `id` null so that it is imported as new)."""
    panels = layout(
        [
            (8, guide_panels(instance)),
            (8, usage_panels(instance)),
            (6, state_panels(instance)),
            (5, stat_panels(instance)),
        ]
    )
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
