"""The dashboard follows Grafana's documented dashboard JSON model (the classic model).

Fields and their meaning as documented in "Dashboard JSON model",
https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/
(top-level JSON fields, panels with `gridPos` on a 24-column grid, templating variables).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.monitoring.dashboard import dashboard
from tests.operator.factories import make_instance

# The documented top-level fields and their JSON types (`id` is null until Grafana saves it).
TOP_LEVEL: dict[str, tuple[type, ...]] = {
    "id": (int, type(None)),
    "uid": (str,),
    "title": (str,),
    "tags": (list,),
    "style": (str,),
    "timezone": (str,),
    "editable": (bool,),
    "graphTooltip": (int,),
    "time": (dict,),
    "timepicker": (dict,),
    "templating": (dict,),
    "annotations": (dict,),
    "refresh": (str, bool),
    "schemaVersion": (int,),
    "version": (int,),
    "panels": (list,),
    "links": (list,),
}
REQUIRED_TOP_LEVEL = {"uid", "title", "schemaVersion", "panels", "time", "templating"}
PANEL: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "type": (str,),
    "title": (str,),
    "gridPos": (dict,),
    "datasource": (dict,),
    "targets": (list,),
}
GRID_COLUMNS = 24
# Grafana's template variable syntaxes: $var, ${var} or ${var:format}, [[var]].
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
BUILTIN_VARIABLES = {"__interval", "__interval_ms", "__rate_interval", "__range", "__range_s"}

INSTANCES = [
    make_instance(),
    make_instance(
        {"monitoring": {"enabled": True}, "backup": {"enabled": True, "s3": {"bucket": "backups"}}},
        name="a-rather-long-instance-name-for-the-uid",
        namespace="team-with-a-long-namespace",
    ),
]


def _types_ok(obj: dict[str, Any], fields: dict[str, tuple[type, ...]]) -> list[str]:
    return [
        f"{key}: {type(obj[key]).__name__}"
        for key, types in fields.items()
        if key in obj and not isinstance(obj[key], types)
    ]


@pytest.mark.parametrize("instance", INSTANCES, ids=["default", "long-names"])
def test_top_level_fields_are_documented_present_and_typed(instance: Instance) -> None:
    board = dashboard(instance)
    assert set(board) <= set(TOP_LEVEL), set(board) - set(TOP_LEVEL)
    assert REQUIRED_TOP_LEVEL <= set(board), REQUIRED_TOP_LEVEL - set(board)
    assert not _types_ok(board, TOP_LEVEL)
    assert 8 <= len(board["uid"]) <= 40  # "string (8-40)"
    assert set(board["time"]) == {"from", "to"}
    assert isinstance(board["templating"]["list"], list)


@pytest.mark.parametrize("instance", INSTANCES, ids=["default", "long-names"])
def test_every_panel_has_its_fields_and_fits_the_24_column_grid(instance: Instance) -> None:
    for panel in dashboard(instance)["panels"]:
        title = panel.get("title")
        assert set(PANEL) <= set(panel), (title, set(PANEL) - set(panel))
        assert not _types_ok(panel, PANEL), title
        grid = panel["gridPos"]
        assert set(grid) == {"x", "y", "w", "h"}, title
        assert all(type(grid[k]) is int for k in grid), title
        assert 1 <= grid["w"] <= GRID_COLUMNS and grid["h"] >= 1, title
        assert grid["x"] >= 0 and grid["y"] >= 0, title
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, title


def test_every_target_has_an_expression_and_a_unique_ref_id() -> None:
    for panel in dashboard(make_instance())["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert isinstance(target["expr"], str) and target["expr"].strip(), panel["title"]
            assert isinstance(target["refId"], str) and target["refId"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def used_variables(board: dict[str, Any]) -> set[str]:
    """Names of the template variables the panels' queries and data sources refer to."""
    texts = [
        str(value)
        for panel in board["panels"]
        for value in [panel.get("datasource"), *panel["targets"]]
    ]
    return {
        next(group for group in match.groups() if group)
        for text in texts
        for match in _VARIABLE.finditer(text)
    }


def test_every_template_variable_used_is_defined() -> None:
    board = dashboard(make_instance())
    defined = {variable["name"] for variable in board["templating"]["list"]}
    for variable in board["templating"]["list"]:
        assert {"name", "type"} <= set(variable), variable
    used = used_variables(board)
    assert "datasource" in used  # the check below has something to check
    assert used - BUILTIN_VARIABLES <= defined, used - BUILTIN_VARIABLES - defined


def test_the_variable_check_notices_an_undefined_variable() -> None:
    board = dashboard(make_instance())
    board["panels"][0]["targets"][0]["expr"] += " * on() group_left $scale"
    defined = {variable["name"] for variable in board["templating"]["list"]}
    assert used_variables(board) - BUILTIN_VARIABLES - defined == {"scale"}
