"""The Ingress terminates TLS with a cert-manager certificate and forwards to the Service."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.resources.ingress import build_ingress
from tests.operator.factories import example_instance, make_instance


def test_ingress_serves_the_host_over_tls_with_the_cluster_issuer() -> None:
    ingress = build_ingress(example_instance("production"))
    assert ingress["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt-prod"
    }
    spec = ingress["spec"]
    assert spec["tls"] == [{"hosts": ["api.example.com"], "secretName": "repairgpt-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "api.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "repairgpt-api", "port": {"name": "http"}}


def test_tls_secret_defaults_to_the_instance_name_and_issuer_is_optional() -> None:
    ingress = build_ingress(
        make_instance({"ingress": {"enabled": True, "host": "a.example"}}, name="shop")
    )
    assert ingress["spec"]["tls"][0]["secretName"] == "shop-tls"
    assert "annotations" not in ingress["metadata"]


def _routes(ingress: dict[str, Any], path: str) -> bool:
    """Whether a request path reaches the backend under the Ingress's Exact and Prefix rules
    (a Prefix matches whole path segments, as Kubernetes defines it)."""
    (rule,) = ingress["spec"]["rules"]
    for item in rule["http"]["paths"]:
        if item["pathType"] == "Exact":
            if path == item["path"]:
                return True
            continue
        assert item["pathType"] == "Prefix"
        prefix = item["path"].rstrip("/")
        if path == prefix or path.startswith(prefix + "/"):
            return True
    return False


def test_only_the_page_and_the_api_are_public_and_the_operations_endpoints_stay_inside() -> None:
    ingress = build_ingress(example_instance("production"))
    for public in (
        "/",
        "/assets/0123abcd/app.js",
        "/api/v1/guides",
        "/api/v1/chat/sessions",
        "/api/v1/uploads/x",
    ):
        assert _routes(ingress, public), public
    for internal in (
        "/metrics",
        "/docs",
        "/openapi.json",
        "/ready",
        "/health",
        "/redoc",
        "/assetsx",
        "/other",
    ):
        assert not _routes(ingress, internal), internal


def test_the_page_path_is_exact_so_no_other_root_path_leaks() -> None:
    (rule,) = build_ingress(example_instance("production"))["spec"]["rules"]
    root = [item for item in rule["http"]["paths"] if item["path"] == "/"]
    assert [item["pathType"] for item in root] == ["Exact"]
    assert {item["backend"]["service"]["name"] for item in rule["http"]["paths"]} == {
        "repairgpt-api"
    }
