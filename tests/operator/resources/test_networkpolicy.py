"""The NetworkPolicy admits only the ingress controller and only known egress."""

from __future__ import annotations

from repairgpt_operator.resources.deployment import API_PORT, build_deployment
from repairgpt_operator.resources.networkpolicy import build_networkpolicy
from tests.operator.factories import make_instance


def test_only_the_ingress_controller_namespace_reaches_the_api_port() -> None:
    policy = build_networkpolicy(make_instance({"networkPolicy": {"ingressNamespace": "edge"}}))
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": API_PORT}]


def test_egress_is_limited_to_dns_postgres_redis_and_https() -> None:
    policy = build_networkpolicy(make_instance())
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ports = {(p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 6379), ("TCP", 443)}
    assert all("to" not in rule for rule in policy["spec"]["egress"])


def test_policy_applies_to_the_api_pods() -> None:
    instance = make_instance()
    labels = build_deployment(instance)["spec"]["template"]["metadata"]["labels"]
    selector = build_networkpolicy(instance)["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items()


def test_the_metrics_namespaces_may_scrape_the_api_port() -> None:
    policy = build_networkpolicy(
        make_instance(
            {"networkPolicy": {"ingressNamespace": "edge", "metricsNamespaces": ["monitoring"]}}
        )
    )
    (rule,) = policy["spec"]["ingress"]
    admitted = [
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in rule["from"]
    ]
    assert admitted == ["edge", "monitoring"]
    assert rule["ports"] == [{"protocol": "TCP", "port": API_PORT}]
