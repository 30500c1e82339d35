"""The monitoring children: ServiceMonitor or PodMonitor, PrometheusRule, dashboard ConfigMap."""

from __future__ import annotations

import json
from typing import Any

import pytest

from repairgpt_operator.instance.model import InvalidSpec
from repairgpt_operator.monitoring.rules import rule_groups
from repairgpt_operator.ownership import INSTANCE_LABEL, owner_reference
from repairgpt_operator.resources import desired_children, unwanted_children
from repairgpt_operator.resources.deployment import build_deployment
from repairgpt_operator.resources.monitoring import (
    build_dashboard_configmap,
    build_pod_monitor,
    build_prometheus_rule,
    build_service_monitor,
)
from repairgpt_operator.resources.networkpolicy import build_networkpolicy
from repairgpt_operator.resources.service import build_service
from tests.operator.factories import make_instance

ON = {"monitoring": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}}
MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
MISSING = frozenset(("monitoring.coreos.com/v1", kind) for kind in MONITORING_KINDS)


def _kinds(children: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(c["kind"], c["metadata"]["name"]) for c in children}


def test_monitoring_is_off_by_default() -> None:
    kinds = {kind for kind, _ in _kinds(desired_children(make_instance()))}
    assert not kinds & MONITORING_KINDS
    assert ("ConfigMap", "shop-dashboard") not in _kinds(desired_children(make_instance()))


def test_enabled_monitoring_adds_a_service_monitor_rules_and_a_dashboard() -> None:
    children = _kinds(desired_children(make_instance(ON)))
    assert {
        ("ServiceMonitor", "shop-api"),
        ("PrometheusRule", "shop-api"),
        ("ConfigMap", "shop-dashboard"),
    } <= children
    assert ("PodMonitor", "shop-api") not in children


def test_pod_monitor_instead_when_asked() -> None:
    instance = make_instance({"monitoring": {"enabled": True, "scrape": "PodMonitor"}})
    children = _kinds(desired_children(instance))
    assert ("PodMonitor", "shop-api") in children
    assert ("ServiceMonitor", "shop-api") not in children
    assert ("ServiceMonitor", "shop-api") in {(r.kind, r.name) for r in unwanted_children(instance)}


def test_without_the_crds_only_the_dashboard_is_wanted_and_nothing_is_deleted() -> None:
    instance = make_instance(ON)
    kinds = {kind for kind, _ in _kinds(desired_children(instance, MISSING))}
    assert not kinds & MONITORING_KINDS
    assert ("ConfigMap", "shop-dashboard") in _kinds(desired_children(instance, MISSING))
    unwanted = {r.kind for r in unwanted_children(make_instance(), MISSING)}
    assert not unwanted & MONITORING_KINDS


def test_no_dashboard_when_switched_off() -> None:
    instance = make_instance({"monitoring": {"enabled": True, "dashboard": False}})
    assert ("ConfigMap", "shop-dashboard") not in _kinds(desired_children(instance))
    assert ("ConfigMap", "shop-dashboard") in {
        (r.kind, r.name) for r in unwanted_children(instance)
    }


def test_the_service_monitor_selects_the_api_service_and_its_port() -> None:
    instance = make_instance(ON)
    monitor = build_service_monitor(instance)
    service = build_service(instance)
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["repair"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"
    assert {"action": "replace", "targetLabel": "job", "replacement": "shop-api"} in endpoint[
        "relabelings"
    ]


def test_the_pod_monitor_selects_the_api_pods_and_their_port() -> None:
    instance = make_instance({"monitoring": {"enabled": True, "interval": "15s"}})
    monitor = build_pod_monitor(instance)
    pod = build_deployment(instance)["spec"]["template"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    assert endpoint["port"] in ports and endpoint["interval"] == "15s"


def test_extra_labels_are_added_but_never_replace_the_operators() -> None:
    instance = make_instance(
        {"monitoring": {"enabled": True, "labels": {"release": "kps", INSTANCE_LABEL: "other"}}}
    )
    for build in (build_service_monitor, build_pod_monitor, build_prometheus_rule):
        metadata = build(instance)["metadata"]
        assert metadata["labels"]["release"] == "kps"
        assert metadata["labels"][INSTANCE_LABEL] == "shop"
        assert metadata["ownerReferences"] == [owner_reference(instance)]


def test_the_prometheus_rule_carries_the_rule_groups() -> None:
    instance = make_instance(ON)
    assert build_prometheus_rule(instance)["spec"]["groups"] == rule_groups(instance)


def test_the_dashboard_configmap_is_labelled_for_grafana() -> None:
    instance = make_instance(ON)
    configmap = build_dashboard_configmap(instance)
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "repair"
    (text,) = configmap["data"].values()
    assert json.loads(text)["title"] == "RepairGPT repair/shop"


def test_the_network_policy_admits_the_scrape_namespace_selector() -> None:
    selector = {"matchLabels": {"monitoring": "true"}}
    instance = make_instance({"monitoring": {"scrapeNamespaceSelector": selector}})
    (rule,) = build_networkpolicy(instance)["spec"]["ingress"]
    assert {"namespaceSelector": selector} in rule["from"]
    # Nothing else is widened: the same port, and every other peer is a single namespace.
    assert rule["ports"] == build_networkpolicy(make_instance())["spec"]["ingress"][0]["ports"]
    others = [peer for peer in rule["from"] if peer != {"namespaceSelector": selector}]
    assert all(
        "kubernetes.io/metadata.name" in p["namespaceSelector"]["matchLabels"] for p in others
    )


@pytest.mark.parametrize(
    "monitoring",
    [
        {"scrapeNamespaceSelector": {}},
        {"labels": {"not a key": "x"}},
        {"interval": "soon"},
        {"alerts": {"highErrorRate": {"threshold": -1, "for": "5m"}}},
        {"scrape": "Probe"},
    ],
)
def test_invalid_monitoring_settings_are_refused(monitoring: dict[str, Any]) -> None:
    with pytest.raises(InvalidSpec):
        make_instance({"monitoring": monitoring})
