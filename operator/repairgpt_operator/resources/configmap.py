"""Builds the ConfigMap `<instance>-api`: the non-secret environment of the API."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.ownership import child_metadata
from repairgpt_operator.spec import Instance

DATA_DIR = "/var/lib/repairgpt"


def config_data(instance: Instance) -> dict[str, str]:
    """Environment variables of the API that carry no secret (secrets come from secretKeyRef)."""
    spec = instance.spec
    data = {
        "LOG_LEVEL": spec.config.log_level,
        "DEBUG": "true" if spec.config.debug else "false",
        "API_VERSION": spec.config.api_version,
        "CORS_ORIGINS": ",".join(spec.config.cors_origins),
        "LLM_MODEL": spec.llm.model,
        "DATA_DIR": DATA_DIR,
        "RATE_LIMIT_REQUESTS": str(spec.config.rate_limit.requests),
        "RATE_LIMIT_WINDOW_SECONDS": str(spec.config.rate_limit.window_seconds),
    }
    if spec.llm.base_url:
        data["OPENAI_BASE_URL"] = spec.llm.base_url
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
