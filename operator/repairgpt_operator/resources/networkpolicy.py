"""Builds the NetworkPolicy `<instance>-api`: in from the ingress controller (and the metrics
scrapers' namespaces), out to known ports."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import INSTANCE_LABEL, NAME_LABEL, child_metadata
from repairgpt_operator.resources.deployment import API_PORT

DNS_PORT = 53
POSTGRES_PORT = 5432
REDIS_PORT = 6379
HTTPS_PORT = 443


def build_networkpolicy(instance: Instance) -> dict[str, Any]:
    """Ingress to the API port only from the ingress controller's namespace,
    spec.networkPolicy.metricsNamespaces and the namespaces matching
    spec.monitoring.scrapeNamespaceSelector; egress only to DNS, PostgreSQL, Redis and HTTPS (LLM
    and S3 endpoints). The API trusts X-Forwarded-For from these peers by default
    (TRUSTED_PROXIES, see configmap.py).

    The pod selector covers every pod of the instance (API, maintenance page, backup Jobs), which
    need the same egress.
    """
    policy = instance.spec.network_policy
    sources = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
        for namespace in dict.fromkeys([policy.ingress_namespace, *policy.metrics_namespaces])
    ]
    scrapers = instance.spec.monitoring.scrape_namespace_selector
    if scrapers is not None:
        sources.append(
            {"namespaceSelector": scrapers.model_dump(by_alias=True, exclude_defaults=True)}
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_metadata(instance),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    NAME_LABEL: "repairgpt",
                    INSTANCE_LABEL: instance.name,
                }
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": sources,
                    "ports": [{"protocol": "TCP", "port": API_PORT}],
                }
            ],
            "egress": [
                {
                    "ports": [
                        {"protocol": "UDP", "port": DNS_PORT},
                        {"protocol": "TCP", "port": DNS_PORT},
                    ]
                },
                {"ports": [{"protocol": "TCP", "port": POSTGRES_PORT}]},
                {"ports": [{"protocol": "TCP", "port": REDIS_PORT}]},
                {"ports": [{"protocol": "TCP", "port": HTTPS_PORT}]},
            ],
        },
    }
