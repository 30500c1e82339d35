"""Pydantic models of the RepairGPTInstance spec and status: what the custom resource accepts.

These models are the single source of the CRD's OpenAPI schema (see `crd.py`): every field has a
description, defaults live here, and the cross-field rules exist twice on purpose: as CEL rules
(`x-kubernetes-validations`) that the API server enforces on `kubectl apply`, and as pydantic
validators that the operator enforces when it parses a body.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from repairgpt_operator.maintenance import PHASES, MaintenanceState, Phase
from repairgpt_operator.monitoring.spec import Monitoring
from repairgpt_operator.restart import template_token
from repairgpt_operator.rollout_models import RestartStatus, RolloutSpec, RolloutStatus

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

# A Kubernetes name (RFC 1123 subdomain) for the Secrets the spec refers to.
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A key inside a Secret.
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# A resource quantity such as 500m, 1, 1.5, 512Mi, 2Gi.
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


def _cron_field(value: str) -> str:
    item = rf"(\*|{value}(-{value})?)(/[0-9]+)?"
    return rf"{item}(,{item})*"


_MINUTE = _cron_field(r"[0-5]?[0-9]")
_HOUR = _cron_field(r"(2[0-3]|1[0-9]|0?[0-9])")
_DAY_OF_MONTH = _cron_field(r"(3[01]|[12][0-9]|0?[1-9])")
_MONTH = _cron_field(r"(1[0-2]|0?[1-9]|[A-Za-z]{3})")
_DAY_OF_WEEK = _cron_field(r"([0-7]|[A-Za-z]{3})")
# Five space-separated fields (minute hour day-of-month month day-of-week) or a macro, as
# accepted by the CronJob controller.
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|hourly)|"
    rf"{_MINUTE} +{_HOUR} +{_DAY_OF_MONTH} +{_MONTH} +{_DAY_OF_WEEK})$"
)

Quantity = Annotated[
    int | Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=64)],
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]


class InvalidSpec(ValueError):
    """The body of a RepairGPTInstance does not satisfy the models (the API server let it in)."""


class CamelModel(BaseModel):
    """Base of every spec model: camelCase keys on the wire, unknown keys refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


def _object_default(model: type[BaseModel]) -> dict[str, Any]:
    # The CRD default of a nested object is the model's own defaults written out in full: the
    # API server validates a default (CEL rules included) before filling in nested defaults, and
    # `kubectl get -o yaml` then shows the effective settings.
    return {"default": model().model_dump(by_alias=True, exclude_none=True, mode="json")}


class DatabaseSecretRef(CamelModel):
    """Where the API finds a PostgreSQL connection URL."""

    secret_name: str = Field(
        description="Name of the Secret (same namespace) that holds the connection URL.",
        min_length=1,
        max_length=253,
        pattern=SECRET_NAME_PATTERN,
    )
    key: str = Field(
        default="database-url",
        description="Key in the Secret whose value is the libpq/SQLAlchemy URL.",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
    )


class RedisSecretRef(CamelModel):
    """Where the API finds its Redis URL."""

    secret_name: str = Field(
        description="Name of the Secret (same namespace) that holds the Redis URL.",
        min_length=1,
        max_length=253,
        pattern=SECRET_NAME_PATTERN,
    )
    key: str = Field(
        default="redis-url",
        description="Key in the Secret whose value is the redis:// URL.",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
    )


class SecretKeySelector(CamelModel):
    """One key of one Secret."""

    name: str = Field(
        description="Name of the Secret (same namespace).",
        min_length=1,
        max_length=253,
        pattern=SECRET_NAME_PATTERN,
    )
    key: str = Field(
        default="api-key",
        description="Key in the Secret.",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
    )


class Autoscaling(CamelModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) on CPU and memory for the API Deployment."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.minReplicas <= self.maxReplicas",
                    "message": "spec.autoscaling.minReplicas must be less than or equal to "
                    "spec.autoscaling.maxReplicas",
                    "fieldPath": ".minReplicas",
                    "reason": "FieldValueInvalid",
                }
            ]
        }
    )

    enabled: bool = Field(
        default=False,
        description="Create the HPA; the Deployment then leaves its replica count to the HPA "
        "and spec.replicas is ignored.",
    )
    min_replicas: int = Field(
        default=1, ge=1, le=1000, description="Lower bound of the HPA (at least 1)."
    )
    max_replicas: int = Field(
        default=10, ge=1, le=1000, description="Upper bound of the HPA (>= minReplicas)."
    )
    target_cpu_utilization_percentage: int = Field(
        default=70,
        alias="targetCPUUtilizationPercentage",
        ge=1,
        le=100,
        description="Average CPU utilisation, in percent of the CPU request, that the HPA aims at.",
    )
    target_memory_utilization_percentage: int = Field(
        default=80,
        alias="targetMemoryUtilizationPercentage",
        ge=1,
        le=100,
        description="Average memory utilisation, in percent of the memory request, that the HPA "
        "aims at.",
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.minReplicas must be <= autoscaling.maxReplicas")
        return self


class ResourceList(CamelModel):
    """Amounts of CPU and memory."""

    cpu: Quantity | None = Field(
        default=None,
        description="CPU as a Kubernetes quantity, e.g. 500m or 2.",
    )
    memory: Quantity | None = Field(
        default=None,
        description="Memory as a Kubernetes quantity, e.g. 512Mi or 2Gi.",
    )


class Resources(CamelModel):
    """Compute resources of each API container."""

    requests: ResourceList = Field(
        default_factory=lambda: ResourceList(cpu="500m", memory="512Mi"),
        description="What the scheduler reserves per pod; the HPA's utilisation is relative to it.",
        json_schema_extra={"default": {"cpu": "500m", "memory": "512Mi"}},
    )
    limits: ResourceList = Field(
        default_factory=lambda: ResourceList(cpu="1", memory="1Gi"),
        description="The most a pod may use.",
        json_schema_extra={"default": {"cpu": "1", "memory": "1Gi"}},
    )


class RateLimit(CamelModel):
    """Requests per client address that the API answers before 429 Too Many Requests."""

    requests: int = Field(
        default=120,
        ge=0,
        le=1_000_000,
        description="RATE_LIMIT_REQUESTS: requests per client and window; 0 switches the limit "
        "off.",
    )
    window_seconds: int = Field(
        default=60, ge=1, le=86_400, description="RATE_LIMIT_WINDOW_SECONDS: the window."
    )


# spec.config fields of earlier versions that the API never read: `debug` (LOG_LEVEL=DEBUG gives
# verbose logs) and `apiVersion` (the REST API is served under /api/v1 only).
RETIRED_CONFIG_FIELDS = frozenset({"debug", "apiVersion", "api_version"})


class AppConfig(CamelModel):
    """Non-secret settings of the API, delivered through the ConfigMap <name>-api."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="LOG_LEVEL of the API (JSON logs)."
    )
    cors_origins: list[
        Annotated[
            str,
            Field(
                pattern=r"^(\*|https?://[^\s,]+)$",
                max_length=2048,
                description="An origin such as https://example.com, or * for any.",
            ),
        ]
    ] = Field(
        default_factory=list,
        max_length=64,
        description="CORS_ORIGINS: origins allowed to call the API from a browser, e.g. "
        "https://example.com.",
    )
    rate_limit: RateLimit = Field(
        default_factory=RateLimit,
        description="Per-client rate limit of the API (by client address).",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_retired_fields(cls, data: Any) -> Any:
        # Objects written before these fields were retired may still carry them (the API server
        # prunes them from stored objects, but a body can come from elsewhere): ignore them.
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if k not in RETIRED_CONFIG_FIELDS}
        return data


class Database(CamelModel):
    """The PostgreSQL databases of the API."""

    primary: DatabaseSecretRef = Field(
        description="The read-write primary database (DATABASE_URL of the API)."
    )
    replica: DatabaseSecretRef | None = Field(
        default=None,
        description="A streaming replica of the primary; required when failover is enabled.",
    )


class LLM(CamelModel):
    """The language model behind the chat endpoint (any OpenAI-compatible server)."""

    model: str = Field(
        default="gpt-4o-mini", min_length=1, max_length=256, description="Model name (LLM_MODEL)."
    )
    base_url: str = Field(
        default="",
        alias="baseURL",
        max_length=2048,
        pattern=r"^(https?://\S+)?$",
        description="Base URL of an OpenAI-compatible API (OPENAI_BASE_URL); empty means the "
        "provider's default.",
    )
    api_key_secret: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the API key (OPENAI_API_KEY); without it the API uses "
        "its offline answer engine.",
    )


# Room for a hundred uploads at the API's default cap (UPLOAD_MAX_BYTES, 10 MiB).
DEFAULT_DATA_SIZE_LIMIT = "1Gi"


class S3Storage(CamelModel):
    """An S3 bucket (AWS or any S3-compatible store) for uploaded files."""

    bucket: str = Field(
        min_length=3,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$",
        description="Bucket name.",
    )
    endpoint: str = Field(
        default="",
        max_length=2048,
        pattern=r"^(https?://\S+)?$",
        description="Endpoint URL of an S3-compatible store (AWS_ENDPOINT_URL); empty means AWS.",
    )
    region: str = Field(
        default="us-east-1", min_length=1, max_length=64, description="Region (AWS_DEFAULT_REGION)."
    )
    credentials_secret: str | None = Field(
        default=None,
        max_length=253,
        pattern=SECRET_NAME_PATTERN,
        description="Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; without it "
        "the pod's ambient credentials are used.",
    )


class Storage(CamelModel):
    """Where the API stores uploaded files."""

    s3: S3Storage | None = Field(
        default=None,
        description="An S3 bucket; required for more than one API replica. Without it uploads "
        "stay in an emptyDir of each pod: only the pod that received an upload can serve it, "
        "and every rollout loses them (condition UploadStorage says so).",
    )
    empty_dir_size_limit: Quantity = Field(
        default=DEFAULT_DATA_SIZE_LIMIT,
        description="sizeLimit of each API pod's emptyDir at DATA_DIR, where uploads stay "
        "without spec.storage.s3; the kubelet evicts a pod whose volume outgrows it.",
    )


class Maintenance(CamelModel):
    """Maintenance mode: the API scaled to zero and a maintenance page served instead."""

    enabled: bool = Field(default=False, description="Turn maintenance mode on.")
    message: str = Field(
        default="RepairGPT is under maintenance",
        min_length=1,
        max_length=1024,
        description="The message that the maintenance page shows.",
    )


class Failover(CamelModel):
    """Automatic switch of the API to the replica database when the primary stops answering."""

    enabled: bool = Field(
        default=False,
        description="Probe the primary and fail over to spec.database.replica (read-only mode).",
    )
    probe_interval_seconds: int = Field(
        default=5, ge=1, le=300, description="Seconds between two probes of the primary."
    )
    failure_threshold: int = Field(
        default=3, ge=1, le=100, description="Consecutive failed probes before failing over."
    )
    failback: Literal["Manual", "Automatic"] = Field(
        default="Manual",
        description="Manual: back to the primary on the annotation repairgpt.io/failback=now. "
        "Automatic: once the primary has been healthy for stabilizationWindowSeconds.",
    )
    stabilization_window_seconds: int = Field(
        default=60,
        ge=0,
        le=86400,
        description="How long the primary must stay healthy before an automatic failback.",
    )


class BackupS3(CamelModel):
    """The S3 location of database backups."""

    bucket: str = Field(
        min_length=3,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$",
        description="Bucket name.",
    )
    prefix: str = Field(
        default="database/", max_length=512, description="Key prefix of the backup objects."
    )
    endpoint: str = Field(
        default="",
        max_length=2048,
        pattern=r"^(https?://\S+)?$",
        description="Endpoint URL of an S3-compatible store (AWS_ENDPOINT_URL); empty means AWS.",
    )
    region: str = Field(
        default="us-east-1", min_length=1, max_length=64, description="Region (AWS_DEFAULT_REGION)."
    )
    credentials_secret: str | None = Field(
        default=None,
        max_length=253,
        pattern=SECRET_NAME_PATTERN,
        description="Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
    )


class BackupVerify(CamelModel):
    """Periodic restore of the newest backup into a throwaway database, to prove it restores."""

    enabled: bool = Field(
        default=False, description="Create the verification CronJob <name>-verify."
    )
    schedule: str = Field(
        default="30 3 * * *",
        pattern=CRON_PATTERN,
        description="Five-field cron schedule of the verification Job.",
    )
    database: DatabaseSecretRef | None = Field(
        default=None,
        description="A database on the PostgreSQL server where the throwaway database is "
        "created (its role needs CREATEDB); empty means the primary's Secret, whose role then "
        "needs CREATEDB (the BackupVerified condition says so).",
    )


class Backup(CamelModel):
    """Scheduled pg_dump backups of the primary database to S3, with retention."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.enabled || (has(self.s3) && size(self.s3.bucket) > 0)",
                    "message": "spec.backup.s3.bucket is required when spec.backup.enabled is true",
                    "fieldPath": ".s3",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "!self.beforeUpgrade || self.enabled",
                    "message": "spec.backup.enabled is required when spec.backup.beforeUpgrade "
                    "is true",
                    "fieldPath": ".beforeUpgrade",
                    "reason": "FieldValueInvalid",
                },
            ]
        }
    )

    enabled: bool = Field(default=False, description="Create the backup CronJob <name>-backup.")
    schedule: str = Field(
        default="0 * * * *",
        pattern=CRON_PATTERN,
        description="Five-field cron schedule (minute hour day-of-month month day-of-week).",
    )
    retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Backups older than this are pruned; the newest successful one is always kept.",
    )
    suspend: bool = Field(default=False, description="Suspend the CronJob without deleting it.")
    s3: BackupS3 | None = Field(
        default=None, description="Where backups go; required when backups are enabled."
    )
    verify: BackupVerify = Field(
        default_factory=BackupVerify,
        description="Automatic restore tests of the newest backup.",
        json_schema_extra=_object_default(BackupVerify),
    )
    before_upgrade: bool = Field(
        default=False,
        description="Hold a change of spec.image (the API keeps its running image) until a "
        "backup Job for that change succeeds (condition BackupBeforeUpgrade); the annotation "
        "repairgpt.io/skip-backup-before-upgrade=<image> skips it once.",
    )

    @model_validator(mode="after")
    def _bucket_when_enabled(self) -> Backup:
        if self.enabled and self.s3 is None:
            raise ValueError("backup.s3.bucket is required when backup.enabled is true")
        if self.before_upgrade and not self.enabled:
            raise ValueError("backup.enabled is required when backup.beforeUpgrade is true")
        return self


class Retention(CamelModel):
    """Scheduled deletion of old chat history (CronJob <name>-retention)."""

    chat_history_days: int = Field(
        default=365,
        ge=0,
        le=36500,
        description="Chat messages older than this many days are deleted, with sessions left "
        "idle and empty; 0 turns retention off (no CronJob).",
    )
    schedule: str = Field(
        default="15 4 * * *",
        pattern=CRON_PATTERN,
        description="Five-field cron schedule of the retention Job (default daily, 04:15 UTC).",
    )
    batch_size: int = Field(
        default=5000,
        ge=100,
        le=100_000,
        description="Rows deleted per transaction, so that no statement holds locks for long.",
    )


class NetworkPolicySpec(CamelModel):
    """A NetworkPolicy that lets only the ingress controller in and only known services out."""

    enabled: bool = Field(default=True, description="Create the NetworkPolicy <name>-api.")
    ingress_namespace: str = Field(
        default="ingress-nginx",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Namespace of the ingress controller, allowed to reach the API port.",
    )
    metrics_namespaces: list[
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=63,
                pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                description="A namespace name.",
            ),
        ]
    ] = Field(
        default_factory=list,
        max_length=16,
        description="Namespaces (e.g. Prometheus's) also allowed to reach the API port, to "
        "scrape /metrics inside the cluster; the Ingress does not route /metrics.",
    )


# An IPv4 or IPv6 address with an optional prefix length, or * (checked exactly by the models).
TRUSTED_PROXY_PATTERN = r"^(\*|[0-9a-fA-F:.]+(/[0-9]{1,3})?)$"


class IngressSpec(CamelModel):
    """An Ingress with TLS (certificates from cert-manager) in front of the API Service."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.enabled || size(self.host) > 0",
                    "message": "spec.ingress.host is required when spec.ingress.enabled is true",
                    "fieldPath": ".host",
                    "reason": "FieldValueRequired",
                }
            ]
        }
    )

    enabled: bool = Field(default=False, description="Create the Ingress <name>-api.")
    host: str = Field(
        default="",
        max_length=253,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$",
        description="Public host name, e.g. api.example.com.",
    )
    class_name: str = Field(
        default="nginx", min_length=1, max_length=253, description="IngressClass to use."
    )
    tls_secret_name: str = Field(
        default="",
        max_length=253,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$",
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


class RepairGPTInstanceSpec(CamelModel):
    """Desired state of one RepairGPT deployment."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.failover.enabled || has(self.database.replica)",
                    "message": "spec.database.replica is required when spec.failover.enabled "
                    "is true",
                    "fieldPath": ".database",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "!has(self.database.replica) || "
                    "self.database.replica.secretName != self.database.primary.secretName || "
                    "self.database.replica.key != self.database.primary.key",
                    "message": "spec.database.replica must differ from spec.database.primary",
                    "fieldPath": ".database.replica",
                    "reason": "FieldValueInvalid",
                },
            ]
        }
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
    autoscaling: Autoscaling = Field(
        default_factory=Autoscaling,
        description="Horizontal autoscaling of the API on CPU and memory.",
        json_schema_extra=_object_default(Autoscaling),
    )
    resources: Resources = Field(
        default_factory=Resources,
        description="CPU and memory requests and limits of each API pod.",
        json_schema_extra=_object_default(Resources),
    )
    config: AppConfig = Field(
        default_factory=AppConfig,
        description="Non-secret settings of the API (ConfigMap <name>-api).",
        json_schema_extra=_object_default(AppConfig),
    )
    database: Database = Field(description="PostgreSQL connection Secrets.")
    redis: RedisSecretRef | None = Field(
        default=None, description="Redis cache (REDIS_URL); without it the API caches in memory."
    )
    llm: LLM = Field(
        default_factory=LLM,
        description="Language model settings of the chat endpoint.",
        json_schema_extra=_object_default(LLM),
    )
    storage: Storage = Field(
        default_factory=Storage,
        description="File storage of the API.",
        json_schema_extra=_object_default(Storage),
    )
    maintenance: Maintenance = Field(
        default_factory=Maintenance,
        description="Maintenance mode.",
        json_schema_extra=_object_default(Maintenance),
    )
    failover: Failover = Field(
        default_factory=Failover,
        description="Automatic failover to the replica database.",
        json_schema_extra=_object_default(Failover),
    )
    backup: Backup = Field(
        default_factory=Backup,
        description="Scheduled backups of the primary database to S3.",
        json_schema_extra=_object_default(Backup),
    )
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        description="NetworkPolicy of the API pods.",
        json_schema_extra=_object_default(NetworkPolicySpec),
    )
    ingress: IngressSpec = Field(
        default_factory=IngressSpec,
        description="Ingress with TLS in front of the API.",
        json_schema_extra=_object_default(IngressSpec),
    )
    pod_disruption_budget: PodDisruptionBudgetSpec = Field(
        default_factory=PodDisruptionBudgetSpec,
        description="PodDisruptionBudget of the API pods.",
        json_schema_extra=_object_default(PodDisruptionBudgetSpec),
    )
    admin_api_key_secret: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the admin key (ADMIN_API_KEY) that guide writes must "
        "send in X-API-Key; without it every guide write is refused (403).",
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec,
        description="Progress deadline and automatic rollback of API image rollouts.",
        json_schema_extra=_object_default(RolloutSpec),
    )
    monitoring: Monitoring = Field(
        default_factory=Monitoring,
        description="Prometheus scrape objects, alerting rules and a Grafana dashboard.",
        json_schema_extra=_object_default(Monitoring),
    )
    retention: Retention = Field(
        default_factory=Retention,
        description="Deletion of chat history past its retention, with ANALYZE afterwards.",
        json_schema_extra=_object_default(Retention),
    )

    @model_validator(mode="after")
    def _replica_when_failover(self) -> RepairGPTInstanceSpec:
        if self.failover.enabled and self.database.replica is None:
            raise ValueError("database.replica is required when failover.enabled is true")
        if self.database.replica == self.database.primary:
            raise ValueError("database.replica must differ from database.primary")
        return self


# --- status -------------------------------------------------------------------------------------


class Condition(CamelModel):
    """One observation about the instance, in the standard Kubernetes condition shape."""

    type: str = Field(
        description="Ready, Reconciled, Maintenance, FailedOver, Degraded, BackupHealthy, "
        "BackupVerified, UploadStorage, RolloutHealthy, BackupBeforeUpgrade or MonitoringReady."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="One CamelCase word saying why.")
    message: str = Field(default="", description="Human-readable details.")
    last_transition_time: str | None = Field(
        default=None,
        description="When status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation that this condition describes."
    )


class DatabaseStatus(CamelModel):
    """Which database the API uses, and the health of the primary."""

    active: Literal["primary", "replica"] = Field(
        default="primary", description="The database the API currently uses."
    )
    consecutive_failures: int = Field(
        default=0, description="Failed probes of the primary in a row."
    )
    last_probe_time: str | None = Field(
        default=None,
        description="Time of the last probe of the primary (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )


class MaintenanceStatus(CamelModel):
    """Where the instance is in maintenance mode (the operator's memory of it)."""

    phase: Literal["Off", "Entering", "On", "Exiting"] = Field(
        default="Off",
        description="Off; Entering (the maintenance page starts, the API still serves); On "
        "(API held at 0, maintenance page served); Exiting (API scaled back, the Service "
        "switches back once an API pod is ready).",
    )
    previous_replicas: int | None = Field(
        default=None, description="API replicas when maintenance began, restored on exit."
    )


class BackupStatus(CamelModel):
    """Outcome of the backups."""

    last_schedule_time: str | None = Field(
        default=None,
        description="When the last backup Job was started (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    last_successful_time: str | None = Field(
        default=None,
        description="When the newest successful backup finished (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    last_failure_time: str | None = Field(
        default=None,
        description="When the newest failed backup Job gave up (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    last_location: str | None = Field(
        default=None,
        description="s3:// URL of the newest successful backup; filled when the backup Job "
        "reports its result.",
    )
    last_size_bytes: int | None = Field(
        default=None,
        description="Size of the newest successful backup in bytes; filled when the backup Job "
        "reports its result.",
    )
    last_error: str | None = Field(default=None, description="Error of the last failed backup.")
    source: Literal["primary", "replica"] | None = Field(
        default=None,
        description="The database the backups dump from: replica while the instance is failed "
        "over (the primary is down, the replica has its data), else primary.",
    )
    last_source: Literal["primary", "replica"] | None = Field(
        default=None, description="The database the newest successful backup was dumped from."
    )
    last_manual_token: str | None = Field(
        default=None,
        description="Token of the newest finished on-demand backup "
        "(annotation repairgpt.io/backup-now).",
    )
    last_verified_time: str | None = Field(
        default=None,
        description="When the newest successful verification (a restore into a throwaway "
        "database with matching row counts) finished (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    last_verified_location: str | None = Field(
        default=None, description="s3:// URL of the backup that the newest verification restored."
    )
    last_verification_failure_time: str | None = Field(
        default=None,
        description="When the newest failed verification Job gave up (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    last_verification_error: str | None = Field(
        default=None, description="Error of the last failed verification."
    )


class RetentionStatus(CamelModel):
    """The last run of the chat retention Job."""

    last_run_time: str | None = Field(
        default=None,
        description="When the newest finished retention Job ended (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    outcome: Literal["Succeeded", "Failed"] | None = Field(
        default=None, description="How that Job ended."
    )
    rows_deleted: int | None = Field(
        default=None, description="Chat messages and sessions the last successful run deleted."
    )
    messages_deleted: int | None = Field(
        default=None, description="Chat messages the last successful run deleted."
    )
    sessions_deleted: int | None = Field(
        default=None, description="Chat sessions the last successful run deleted."
    )
    batches: int | None = Field(
        default=None, description="Transactions the last successful run took."
    )
    seconds: float | None = Field(
        default=None, description="How long the last successful prune ran."
    )
    max_batch_seconds: float | None = Field(
        default=None, description="The longest transaction, i.e. the longest any lock was held."
    )
    last_successful_time: str | None = Field(
        default=None,
        description="When the newest successful retention Job ended (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    last_error: str | None = Field(default=None, description="Error of the last failed run.")


class RepairGPTInstanceStatus(CamelModel):
    """Observed state of one RepairGPT deployment, written by the operator."""

    observed_generation: int | None = Field(
        default=None, description="metadata.generation that the operator last reconciled."
    )
    phase: Literal["Running", "Progressing", "Maintenance", "FailedOver", "Degraded"] | None = (
        Field(
            default=None, description="Running, Progressing, Maintenance, FailedOver or Degraded."
        )
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Reconciled and the other conditions."
    )
    replicas: int | None = Field(
        default=None, description="Pods of the API Deployment (from its status)."
    )
    ready_replicas: int | None = Field(
        default=None, description="Ready pods of the API Deployment (from its status)."
    )
    selector: str | None = Field(
        default=None, description="Label selector of the API pods (for the scale subresource)."
    )
    database: DatabaseStatus | None = Field(
        default=None, description="Database in use and primary health."
    )
    maintenance: MaintenanceStatus | None = Field(
        default=None, description="Progress of entering and leaving maintenance mode."
    )
    backup: BackupStatus | None = Field(default=None, description="Outcome of the backups.")
    rollout: RolloutStatus | None = Field(
        default=None,
        description="Images of the API: applied, ready (history, last good), failed, held.",
    )
    restart: RestartStatus | None = Field(
        default=None, description="The newest restart (annotation repairgpt.io/restart)."
    )
    retention: RetentionStatus | None = Field(
        default=None, description="The last run of the chat retention Job."
    )


# --- a parsed instance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeState:
    """What the operator decided at run time and keeps in .status; it shapes children too."""

    database_active: Literal["primary", "replica"] = "primary"
    maintenance: MaintenanceState = MaintenanceState()
    # The RepairGPTRestore that holds the instance in maintenance while it runs (an annotation).
    restore_hold: str | None = None
    # The API image the operator applies (status.rollout.image): not spec.image while a rollback
    # or a backup before upgrade holds.
    api_image: str | None = None
    # The restart token of the pod template (annotation repairgpt.io/restart, then the status).
    restart_token: str | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> RuntimeState:
        database = status.get("database") or {}
        maintenance = status.get("maintenance") or {}
        previous = maintenance.get("previousReplicas")
        phase: Phase = next((p for p in PHASES if p == maintenance.get("phase")), "Off")
        return cls(
            database_active="replica" if database.get("active") == "replica" else "primary",
            maintenance=MaintenanceState(
                phase=phase,
                previous_replicas=int(previous) if previous is not None else None,
            ),
            api_image=(status.get("rollout") or {}).get("image") or None,
        )


@dataclass(frozen=True)
class Instance:
    """A RepairGPTInstance as the builders see it: identity, a validated spec, runtime state."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: RepairGPTInstanceSpec
    state: RuntimeState = RuntimeState()

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Instance:
        """Parse a RepairGPTInstance object (as the API returns it); raise InvalidSpec."""
        metadata = body.get("metadata") or {}
        try:
            spec = RepairGPTInstanceSpec.model_validate(dict(body.get("spec") or {}))
        except ValidationError as error:
            raise InvalidSpec(_describe(error)) from None
        return cls(
            name=str(metadata["name"]),
            namespace=str(metadata.get("namespace") or "default"),
            uid=str(metadata.get("uid") or ""),
            generation=int(metadata.get("generation") or 0),
            spec=spec,
            state=dataclasses.replace(
                RuntimeState.from_status(body.get("status") or {}),
                restore_hold=(metadata.get("annotations") or {}).get(RESTORE_HOLD_ANNOTATION)
                or None,
                restart_token=template_token(body),
            ),
        )

    @property
    def maintenance_wanted(self) -> bool:
        """Maintenance asked for by the spec or held by a running restore."""
        return self.spec.maintenance.enabled or self.state.restore_hold is not None


def _describe(error: ValidationError) -> str:
    # Field paths and messages only: the offending values could be secrets.
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in item["loc"])
        parts.append(f"spec.{path}: {item['msg']}" if path else f"spec: {item['msg']}")
    return "; ".join(parts)
