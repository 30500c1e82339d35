"""Pydantic models of the RepairGPTInstance spec: what the custom resource accepts.

These models (with the section models of each feature package) are the single source of the
CRD's OpenAPI schema (see `crd.py`): every field has a description, defaults live here, and the
cross-field rules exist twice on purpose: as CEL rules (`x-kubernetes-validations`) that the API
server enforces on `kubectl apply`, and as pydantic validators that the operator enforces when it
parses a body.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from repairgpt_operator.backup.spec import Backup
from repairgpt_operator.failover.spec import Failover
from repairgpt_operator.instance.spec_fields import (
    CamelModel,
    cel_rule,
    cel_rules,
    required_when,
    section,
)
from repairgpt_operator.instance.spec_network import (
    IngressSpec,
    NetworkPolicySpec,
    PodDisruptionBudgetSpec,
)
from repairgpt_operator.instance.spec_workload import (
    LLM,
    AppConfig,
    Autoscaling,
    Database,
    Embeddings,
    RedisSecretRef,
    Resources,
    SecretKeySelector,
    Storage,
)
from repairgpt_operator.maintenance.spec import Maintenance
from repairgpt_operator.monitoring.spec import Monitoring
from repairgpt_operator.retention.spec import Retention
from repairgpt_operator.rollout.models import RolloutSpec

GROUP = "repairgpt.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "RepairGPTInstance"
# Set by the operator while a RepairGPTRestore (the value is its name) holds the instance in
# maintenance; the restore's end (or its deletion) lifts it.
RESTORE_HOLD_ANNOTATION = "repairgpt.io/restore-hold"
PLURAL = "repairgptinstances"
SINGULAR = "repairgptinstance"
SHORT_NAMES = ["rgi"]


class RepairGPTInstanceSpec(CamelModel):
    """Desired state of one RepairGPT deployment."""

    model_config = cel_rules(
        required_when(
            "failover.enabled",
            "database.replica",
            "has(self.database.replica)",
            section="spec",
            field_path=".database",
        ),
        cel_rule(
            "!has(self.database.replica) || "
            "self.database.replica.secretName != self.database.primary.secretName || "
            "self.database.replica.key != self.database.primary.key",
            "spec.database.replica must differ from spec.database.primary",
            field_path=".database.replica",
            reason="FieldValueInvalid",
        ),
    )

    image: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^\S+$",
        description="Container image of the RepairGPT API, "
        "e.g. ghcr.io/example/repairgpt-app:1.2.3.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Pull policy of the API image."
    )
    replicas: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Number of API pods when autoscaling is off (kubectl scale rgi sets it).",
    )
    autoscaling: Autoscaling = section(
        Autoscaling, "Horizontal autoscaling of the API on CPU and memory."
    )
    resources: Resources = section(Resources, "CPU and memory requests and limits of each API pod.")
    config: AppConfig = section(AppConfig, "Non-secret settings of the API (ConfigMap <name>-api).")
    database: Database = Field(description="PostgreSQL connection Secrets.")
    redis: RedisSecretRef | None = Field(
        default=None, description="Redis cache (REDIS_URL); without it the API caches in memory."
    )
    llm: LLM = section(LLM, "Language model settings of the chat endpoint.")
    embeddings: Embeddings = section(
        Embeddings, "Embeddings endpoint of hybrid guide search (dense ranking fused with BM25F)."
    )
    storage: Storage = section(Storage, "File storage of the API.")
    maintenance: Maintenance = section(Maintenance, "Maintenance mode.")
    failover: Failover = section(Failover, "Automatic failover to the replica database.")
    backup: Backup = section(Backup, "Scheduled backups of the primary database to S3.")
    network_policy: NetworkPolicySpec = section(NetworkPolicySpec, "NetworkPolicy of the API pods.")
    ingress: IngressSpec = section(IngressSpec, "Ingress with TLS in front of the API.")
    pod_disruption_budget: PodDisruptionBudgetSpec = section(
        PodDisruptionBudgetSpec, "PodDisruptionBudget of the API pods."
    )
    admin_api_key_secret: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the admin key (ADMIN_API_KEY) that guide writes must "
        "send in X-API-Key; without it every guide write is refused (403).",
    )
    rollout: RolloutSpec = section(
        RolloutSpec, "Progress deadline and automatic rollback of API image rollouts."
    )
    monitoring: Monitoring = section(
        Monitoring, "Prometheus scrape objects, alerting rules and a Grafana dashboard."
    )
    retention: Retention = section(
        Retention, "Deletion of chat history past its retention, with ANALYZE afterwards."
    )

    @model_validator(mode="after")
    def _replica_when_failover(self) -> RepairGPTInstanceSpec:
        if self.failover.enabled and self.database.replica is None:
            raise ValueError("database.replica is required when failover.enabled is true")
        if self.database.replica == self.database.primary:
            raise ValueError("database.replica must differ from database.primary")
        return self
