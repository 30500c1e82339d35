"""MonitoringReady, its Event, and the cached discovery of the prometheus-operator kinds."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.conditions import find_condition
from repairgpt_operator.monitoring.discovery import MONITORING_KINDS, ServedKinds, missing_kinds
from repairgpt_operator.monitoring.readiness import (
    MONITORING_READY,
    monitoring_condition,
    monitoring_turned_unready,
    with_monitoring_condition,
)
from tests.operator.factories import make_instance

ON = {"monitoring": {"enabled": True}}
NOW = "2026-01-01T00:00:00Z"


def test_kinds_missing_from_discovery() -> None:
    assert missing_kinds(["ServiceMonitor", "PodMonitor", "PrometheusRule", "Probe"]) == set()
    assert {kind for _, kind in missing_kinds([])} == set(MONITORING_KINDS)
    assert missing_kinds(["ServiceMonitor", "PrometheusRule"]) == {
        ("monitoring.coreos.com/v1", "PodMonitor")
    }


def test_discovery_is_asked_once_per_ttl() -> None:
    calls: list[str] = []
    clock = [0.0]
    answers = [[], ["ServiceMonitor", "PodMonitor", "PrometheusRule"]]

    def discover(group_version: str) -> list[str]:
        calls.append(group_version)
        return answers[min(len(calls) - 1, 1)]

    served = ServedKinds(discover, ttl=30, clock=lambda: clock[0])
    assert len(served.missing()) == 3
    clock[0] = 29
    assert len(served.missing()) == 3 and len(calls) == 1
    clock[0] = 30
    assert served.missing() == frozenset() and calls == ["monitoring.coreos.com/v1"] * 2


def test_a_forgotten_answer_is_asked_again_at_once() -> None:
    calls: list[str] = []

    def discover(group_version: str) -> list[str]:
        calls.append(group_version)
        return ["ServiceMonitor", "PodMonitor", "PrometheusRule"]

    served = ServedKinds(discover, ttl=30, clock=lambda: 0.0)
    served.missing()
    served.missing()
    served.forget()
    served.missing()
    assert len(calls) == 2


def test_without_the_crds_monitoring_is_not_ready() -> None:
    condition = monitoring_condition(make_instance(ON), missing_kinds([]))
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "PrometheusOperatorMissing")
    assert "ServiceMonitor" in condition["message"] and "PrometheusRule" in condition["message"]
    assert "PodMonitor" not in condition["message"]


def test_with_the_crds_monitoring_is_ready() -> None:
    condition = monitoring_condition(make_instance(ON), frozenset())
    assert condition is not None and condition["status"] == "True"


def test_the_condition_goes_when_monitoring_is_switched_off() -> None:
    conditions = with_monitoring_condition([], make_instance(ON), missing_kinds([]), now=NOW)
    assert find_condition(conditions, MONITORING_READY) is not None
    after = with_monitoring_condition(conditions, make_instance(), frozenset(), now=NOW)
    assert find_condition(after, MONITORING_READY) is None


def test_one_event_when_it_turns_false_and_none_while_it_stays() -> None:
    before: list[dict[str, Any]] = []
    after = with_monitoring_condition(before, make_instance(ON), missing_kinds([]), now=NOW)
    assert monitoring_turned_unready(before, after) is not None
    again = with_monitoring_condition(after, make_instance(ON), missing_kinds([]), now=NOW)
    assert monitoring_turned_unready(after, again) is None
    ready = with_monitoring_condition(again, make_instance(ON), frozenset(), now=NOW)
    assert monitoring_turned_unready(again, ready) is None
