"""Draws a Grafana dashboard's panels with matplotlib from Prometheus range queries, laid out
like their `gridPos`: a picture of the dashboard where Grafana itself does not run."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")  # no display: draw to files only

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tests.utils.prometheus import panel_queries  # noqa: E402

# A range query: PromQL in, a matrix out ([{"metric": {...}, "values": [[t, "v"], ...]}]).
RangeQuery = Callable[[str], list[dict[str, Any]]]
GRID_COLUMNS = 24
NO_DATA = "no data in this run"
UNITS = {"s": "seconds", "reqps": "requests/s", "percentunit": "ratio", "short": ""}
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def prometheus_range_query(base_url: str, start: float, end: float, step: float) -> RangeQuery:
    """A RangeQuery against Prometheus' HTTP API at `base_url`, over [start, end]."""

    def query(expr: str) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        response = httpx.get(f"{base_url}/api/v1/query_range", params=params, timeout=10)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"query_range {expr}: {response.status_code} {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    return query


def legend(legend_format: str, labels: dict[str, str]) -> str:
    """Grafana's legendFormat: `{{label}}` replaced by the series' label value."""
    return _LEGEND.sub(lambda m: labels.get(m[1], ""), legend_format) or str(labels)


def _axes(figure: Figure, grid: dict[str, int], rows: int) -> Axes:
    # Figure fractions: the panel's cell, less room for its title and the tick labels.
    left, width = grid["x"] / GRID_COLUMNS, grid["w"] / GRID_COLUMNS
    # Row 0 of the figure holds the dashboard's title.
    top, height = 1 - (grid["y"] + 1) / rows, grid["h"] / rows
    return figure.add_axes(
        (left + 0.035, top - height + 0.05, width - 0.045, height - 0.085),
    )


def _draw_panel(
    ax: Axes, panel: dict[str, Any], series: list[tuple[str, list[Any]]], end: float
) -> None:
    ax.set_title(panel["title"], fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    if not series:
        ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.set_ylabel(UNITS.get(panel["fieldConfig"]["defaults"]["unit"], ""), fontsize=7)
    for label, values in series:
        seconds = [float(t) - end for t, _ in values]
        ax.plot(seconds, [float(v) for _, v in values], linewidth=1.2, label=label)
    ax.set_xlabel("seconds before the end of the run", fontsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left", framealpha=0.6)


def render_dashboard(
    board: dict[str, Any],
    query_range: RangeQuery,
    path: Path,
    *,
    end: float,
    variables: dict[str, str] | None = None,
) -> dict[str, int]:
    """Draw every panel of `board` to the PNG `path`; the number of series drawn per panel."""
    queries = iter(panel_queries(board, variables))
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    figure = plt.figure(figsize=(16, rows * 0.36), dpi=80)
    figure.suptitle(board["title"], fontsize=11, x=0.01, ha="left")
    drawn: dict[str, int] = {}
    try:
        for panel in board["panels"]:
            series: list[tuple[str, list[Any]]] = []
            for target in panel["targets"]:
                _, expr = next(queries)
                for result in query_range(expr):
                    label = legend(target.get("legendFormat", ""), result["metric"])
                    series.append((label, result["values"]))
            _draw_panel(_axes(figure, panel["gridPos"], rows + 1), panel, series, end)
            drawn[panel["title"]] = len(series)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return drawn
