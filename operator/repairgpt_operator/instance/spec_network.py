"""Pydantic models of the spec's network sections: NetworkPolicy, Ingress, PodDisruptionBudget."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from repairgpt_operator.instance.spec_fields import CamelModel, cel_rules, required_when

# A namespace name (an RFC 1123 label).
NamespaceName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="A namespace name.",
    ),
]
# A DNS subdomain (RFC 1123) such as a host or a Secret name, or empty.
OPTIONAL_DNS_NAME_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$"


class NetworkPolicySpec(CamelModel):
    """A NetworkPolicy that lets only the ingress controller in and only known services out."""

    enabled: bool = Field(default=True, description="Create the NetworkPolicy <name>-api.")
    ingress_namespace: NamespaceName = Field(
        default="ingress-nginx",
        description="Namespace of the ingress controller, allowed to reach the API port.",
    )
    metrics_namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=16,
        description="Namespaces (e.g. Prometheus's) also allowed to reach the API port, to "
        "scrape /metrics inside the cluster; the Ingress does not route /metrics.",
    )


# An IPv4 or IPv6 address with an optional prefix length, or * (checked exactly by the models).
TRUSTED_PROXY_PATTERN = r"^(\*|[0-9a-fA-F:.]+(/[0-9]{1,3})?)$"


class IngressSpec(CamelModel):
    """An Ingress with TLS (certificates from cert-manager) in front of the API Service."""

    model_config = cel_rules(
        required_when(
            "enabled", "host", "size(self.host) > 0", section="spec.ingress", field_path=".host"
        )
    )

    enabled: bool = Field(default=False, description="Create the Ingress <name>-api.")
    host: str = Field(
        default="",
        max_length=253,
        pattern=OPTIONAL_DNS_NAME_PATTERN,
        description="Public host name, e.g. api.example.com.",
    )
    class_name: str = Field(
        default="nginx", min_length=1, max_length=253, description="IngressClass to use."
    )
    tls_secret_name: str = Field(
        default="",
        max_length=253,
        pattern=OPTIONAL_DNS_NAME_PATTERN,
        description="Secret for the TLS certificate (filled by cert-manager); empty means "
        "<name>-tls.",
    )
    cluster_issuer: str = Field(
        default="",
        max_length=253,
        description="cert-manager ClusterIssuer (annotation cert-manager.io/cluster-issuer); "
        "empty means no annotation.",
    )
    trusted_proxies: (
        list[
            Annotated[
                str,
                Field(
                    pattern=TRUSTED_PROXY_PATTERN,
                    max_length=64,
                    description="An IP address or CIDR, or * for any peer.",
                ),
            ]
        ]
        | None
    ) = Field(
        default=None,
        max_length=64,
        description="TRUSTED_PROXIES: TCP peers whose X-Forwarded-For header names the client "
        "(for the per-client rate limit and logs), e.g. [10.0.0.0/8]; [] trusts none. Unset: "
        "any peer (*) while spec.networkPolicy is enabled, since it admits only the ingress "
        "controller's namespace (and metricsNamespaces) to the API port; none otherwise.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(
                        "ingress.trustedProxies items must be IP addresses, CIDRs or *"
                    ) from None
        return value

    @model_validator(mode="after")
    def _host_when_enabled(self) -> IngressSpec:
        if self.enabled and not self.host:
            raise ValueError("ingress.host is required when ingress.enabled is true")
        return self


class PodDisruptionBudgetSpec(CamelModel):
    """A PodDisruptionBudget that limits voluntary evictions of API pods."""

    enabled: bool = Field(default=True, description="Create the PodDisruptionBudget <name>-api.")
    max_unavailable: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="At most this many API pods may be evicted at once; never blocks scaling.",
    )
