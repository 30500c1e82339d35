"""Builds the Ingress `<instance>-api` with TLS and the cert-manager issuer annotation."""

from __future__ import annotations

import copy
from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import child_metadata, child_name

CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
# What the public reaches through the Ingress, as (path, pathType). The operations endpoints
# (/health, /ready, /metrics) and the OpenAPI docs (/docs, /openapi.json) stay inside the
# cluster; `/` is Exact, so it is the chat page and no other path.
PUBLIC_PATHS: tuple[tuple[str, str], ...] = (
    ("/", "Exact"),  # the chat page
    ("/assets", "Prefix"),  # its stylesheet, scripts and string tables
    ("/api", "Prefix"),  # the REST API, /api/v1/...
)


def tls_secret_name(instance: Instance) -> str:
    """The Secret that holds the certificate: spec.ingress.tlsSecretName or `<instance>-tls`."""
    return instance.spec.ingress.tls_secret_name or f"{instance.name}-tls"


def build_ingress(instance: Instance) -> dict[str, Any]:
    """An Ingress for spec.ingress.host that terminates TLS and forwards the public paths (the
    page and the API, nothing else) to the API Service."""
    spec = instance.spec.ingress
    metadata = child_metadata(instance)
    if spec.cluster_issuer:
        metadata["annotations"] = {CLUSTER_ISSUER_ANNOTATION: spec.cluster_issuer}
    backend = {"service": {"name": child_name(instance, "api"), "port": {"name": "http"}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": {
            "ingressClassName": spec.class_name,
            "tls": [{"hosts": [spec.host], "secretName": tls_secret_name(instance)}],
            "rules": [
                {
                    "host": spec.host,
                    "http": {
                        "paths": [
                            {"path": path, "pathType": kind, "backend": copy.deepcopy(backend)}
                            for path, kind in PUBLIC_PATHS
                        ]
                    },
                }
            ],
        },
    }
