"""The metric names that the app and the operator register, read from their registries."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import REGISTRY
from prometheus_client.registry import CollectorRegistry

from repairgpt.core.metrics import HttpMetrics
from repairgpt_operator import metrics as operator_metrics

# Series Prometheus itself adds to every target.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
}
# A metric name right before its label matchers, as every rule and panel writes them.
SELECTED = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")


def series_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry can expose (counters with _total, histogram parts)."""
    names: set[str] = set()
    for family in registry.collect():
        suffixes = _SUFFIXES.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def app_series() -> set[str]:
    return series_names(HttpMetrics().registry)


def operator_series() -> set[str]:
    assert operator_metrics.INSTANCES is not None  # registered in the default registry
    return series_names(REGISTRY)


def selected(expressions: Iterable[str]) -> list[tuple[str, str]]:
    """(metric name, label matchers) of every selector in some PromQL expressions."""
    return [(m.group(1), m.group(2)) for expr in expressions for m in SELECTED.finditer(expr)]
