"""Builds the ConfigMap `<instance>-api`: the non-secret environment of the API."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import child_metadata

DATA_DIR = "/var/lib/repairgpt"
ANY_PEER = "*"


def trusted_proxies(instance: Instance) -> list[str]:
    """The TCP peers whose X-Forwarded-For the API believes: spec.ingress.trustedProxies, or by
    default any peer while the generated NetworkPolicy lets only the ingress controller's
    namespace (and the metrics namespaces) reach the API port, and none without it (a client
    could then name any address and get a fresh rate-limit budget with each)."""
    declared = instance.spec.ingress.trusted_proxies
    if declared is not None:
        return [ANY_PEER] if ANY_PEER in declared else list(declared)
    return [ANY_PEER] if instance.spec.network_policy.enabled else []


def config_data(instance: Instance) -> dict[str, str]:
    """Environment variables of the API that carry no secret (secrets come from secretKeyRef)."""
    spec = instance.spec
    data = {
        "LOG_LEVEL": spec.config.log_level,
        "CORS_ORIGINS": ",".join(spec.config.cors_origins),
        "LLM_MODEL": spec.llm.model,
        "DATA_DIR": DATA_DIR,
        "RATE_LIMIT_REQUESTS": str(spec.config.rate_limit.requests),
        "RATE_LIMIT_WINDOW_SECONDS": str(spec.config.rate_limit.window_seconds),
        # Empty: no peer is a proxy, the TCP peer is the client.
        "TRUSTED_PROXIES": ",".join(trusted_proxies(instance)),
    }
    if spec.llm.provider != "openai":
        # Only when not the API's default, so that existing instances keep their pods.
        data["LLM_PROVIDER"] = spec.llm.provider
    if spec.llm.base_url:
        data[spec.llm.base_url_variable] = spec.llm.base_url
    data.update(spec.embeddings.environment())
    if spec.storage.s3 is not None:
        data["S3_BUCKET"] = spec.storage.s3.bucket
        data["S3_REGION"] = spec.storage.s3.region
        if spec.storage.s3.endpoint:
            data["S3_ENDPOINT_URL"] = spec.storage.s3.endpoint
    return data


def build_configmap(instance: Instance) -> dict[str, Any]:
    """The ConfigMap that the API Deployment loads with envFrom."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(instance),
        "data": config_data(instance),
    }
