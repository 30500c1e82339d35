"""The Service exposes the API pods."""

from __future__ import annotations

from repairgpt_operator.resources.deployment import build_deployment
from repairgpt_operator.resources.service import build_service
from tests.operator.factories import make_instance


def test_service_selects_exactly_the_api_pods() -> None:
    instance = make_instance(name="shop")
    service = build_service(instance)
    pod_labels = build_deployment(instance)["spec"]["template"]["metadata"]["labels"]
    assert service["metadata"]["name"] == "shop-api"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"


def test_service_forwards_port_80_to_the_named_http_port() -> None:
    (port,) = build_service(make_instance())["spec"]["ports"]
    assert port["port"] == 80 and port["targetPort"] == "http"
    container = build_deployment(make_instance())["spec"]["template"]["spec"]["containers"][0]
    assert "http" in {p["name"] for p in container["ports"]}
