"""The Grafana dashboard of an instance."""

from __future__ import annotations

import json
from typing import Any

from repairgpt_operator.monitoring.dashboard import dashboard, dashboard_uid
from tests.operator.factories import make_instance
from tests.operator.monitoring.metric_names import (
    SYNTHETIC,
    app_series,
    operator_series,
    selected,
)


def _exprs(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def test_the_guides_three_panels_come_first() -> None:
    board = dashboard(make_instance())
    first = board["panels"][:3]
    assert "histogram_quantile(0.95" in first[0]["targets"][0]["expr"]
    assert "sum by (method, endpoint)" in first[1]["targets"][0]["expr"]
    assert 'status=~"5.."' in first[2]["targets"][0]["expr"]
    assert "sum by (endpoint)" in first[2]["targets"][0]["expr"]


def test_chat_search_cache_and_the_operators_view_are_shown() -> None:
    exprs = " ".join(_exprs(dashboard(make_instance())))
    for metric in (
        "repairgpt_chat_answers_total",
        'endpoint="/api/v1/guides"',
        "repairgpt_search_cache_requests_total",
        "repairgpt_instance_phase",
        "repairgpt_instance_condition",
        "repairgpt_operator_backup_last_success_timestamp_seconds",
        "repairgpt_instance_failed_over",
    ):
        assert metric in exprs, metric


def test_every_query_is_scoped_to_the_instance() -> None:
    board = dashboard(make_instance(name="shop", namespace="team-a"))
    for name, matchers in selected(_exprs(board)):
        assert 'namespace="team-a"' in matchers, name
        assert 'job="shop-api"' in matchers or 'name="shop"' in matchers, name


def test_every_metric_on_the_dashboard_is_registered() -> None:
    known = app_series() | operator_series() | SYNTHETIC
    used = {name for name, _ in selected(_exprs(dashboard(make_instance())))}
    assert used <= known, used - known


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    board = dashboard(make_instance())
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids)
    cells = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))


def test_the_uid_is_stable_unique_and_short_enough_for_grafana() -> None:
    long_name = "a" * 60
    uids = {
        dashboard_uid(make_instance(name=long_name, namespace="x")),
        dashboard_uid(make_instance(name=long_name, namespace="y")),
        dashboard_uid(make_instance(name="shop", namespace="x")),
    }
    assert len(uids) == 3 and all(len(uid) <= 40 for uid in uids)
    assert dashboard_uid(make_instance(name="shop")) == dashboard_uid(make_instance(name="shop"))


def test_the_dashboard_is_json() -> None:
    board = dashboard(make_instance())
    assert json.loads(json.dumps(board)) == board
    assert board["templating"]["list"][0]["type"] == "datasource"
