"""Pydantic models of the spec sections that shape the API pods: scale, settings, secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from repairgpt_operator.instance.spec_fields import (
    CamelModel,
    DatabaseSecretRef,
    Quantity,
    S3Bucket,
    S3Endpoint,
    S3Region,
    SecretKey,
    SecretName,
    ServerURL,
    cel_rule,
    cel_rules,
    secret_key,
    secret_name,
)


class RedisSecretRef(CamelModel):
    """Where the API finds its Redis URL."""

    secret_name: SecretName = secret_name(
        "Name of the Secret (same namespace) that holds the Redis URL."
    )
    key: SecretKey = secret_key("redis-url", "Key in the Secret whose value is the redis:// URL.")


class SecretKeySelector(CamelModel):
    """One key of one Secret."""

    name: SecretName = secret_name("Name of the Secret (same namespace).")
    key: SecretKey = secret_key("api-key", "Key in the Secret.")


class Autoscaling(CamelModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) on CPU and memory for the API Deployment."""

    model_config = cel_rules(
        cel_rule(
            "self.minReplicas <= self.maxReplicas",
            "spec.autoscaling.minReplicas must be less than or equal to "
            "spec.autoscaling.maxReplicas",
            field_path=".minReplicas",
            reason="FieldValueInvalid",
        )
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


LLMProvider = Literal["openai", "anthropic"]
# The API's variables for each provider: its base URL and its API key.
LLM_PROVIDER_VARIABLES: dict[str, tuple[str, str]] = {
    "openai": ("OPENAI_BASE_URL", "OPENAI_API_KEY"),
    "anthropic": ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"),
}


class LLM(CamelModel):
    """The language model behind the chat endpoint: any OpenAI-compatible server, or Claude
    through Anthropic's Messages API."""

    provider: LLMProvider = Field(
        default="openai",
        description="The API the model speaks (LLM_PROVIDER): `openai` for any OpenAI-compatible "
        "server (OpenAI, vLLM, llama.cpp, Ollama), `anthropic` for Claude's Messages API.",
    )
    model: str = Field(
        default="gpt-4o-mini", min_length=1, max_length=256, description="Model name (LLM_MODEL)."
    )
    base_url: ServerURL = Field(
        default="",
        alias="baseURL",
        description="Base URL of the provider's API (OPENAI_BASE_URL or ANTHROPIC_BASE_URL); "
        "empty means the provider's default.",
    )
    api_key_secret: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the API key (OPENAI_API_KEY or ANTHROPIC_API_KEY); "
        "without it the API uses its offline answer engine.",
    )

    @property
    def base_url_variable(self) -> str:
        """The API's environment variable for base_url under this provider."""
        return LLM_PROVIDER_VARIABLES[self.provider][0]

    @property
    def api_key_variable(self) -> str:
        """The API's environment variable for the key under this provider."""
        return LLM_PROVIDER_VARIABLES[self.provider][1]


class Embeddings(CamelModel):
    """Hybrid guide search: an OpenAI-compatible /v1/embeddings server (OpenAI, vLLM, Ollama,
    llama.cpp, text-embeddings-inference) whose vectors are fused with BM25F."""

    base_url: ServerURL = Field(
        default="",
        alias="baseURL",
        description="Base URL of the embeddings API, e.g. http://tei:8080/v1 "
        "(EMBEDDINGS_BASE_URL); empty: search ranks with BM25F alone.",
    )
    model: str = Field(
        default="text-embedding-3-small",
        min_length=1,
        max_length=200,
        description="Model that embeds queries (EMBEDDINGS_MODEL).",
    )
    passage_model: str = Field(
        default="",
        max_length=200,
        description="Model name for guide texts when it differs (EMBEDDINGS_PASSAGE_MODEL).",
    )
    query_prefix: str = Field(
        default="", max_length=64, description='Prefix of queries, e.g. "query: " for e5.'
    )
    passage_prefix: str = Field(
        default="", max_length=64, description='Prefix of guide texts, e.g. "passage: ".'
    )
    input_type: bool = Field(
        default=False,
        description="Send input_type query/passage with each request (EMBEDDINGS_INPUT_TYPE).",
    )
    query_deadline_ms: int = Field(
        default=0,
        ge=0,
        le=60_000,
        description="How long a search waits for a new question's vector before BM25F alone "
        "ranks it (EMBEDDINGS_QUERY_DEADLINE_MS); 0 waits up to the timeout.",
    )
    api_key_secret: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the API key (EMBEDDINGS_API_KEY)."
    )

    def environment(self) -> dict[str, str]:
        """The API's non-secret embeddings settings; none while no base URL is set."""
        if not self.base_url:
            return {}
        data = {"EMBEDDINGS_BASE_URL": self.base_url, "EMBEDDINGS_MODEL": self.model}
        optional = {
            "EMBEDDINGS_PASSAGE_MODEL": self.passage_model,
            "EMBEDDINGS_QUERY_PREFIX": self.query_prefix,
            "EMBEDDINGS_PASSAGE_PREFIX": self.passage_prefix,
            "EMBEDDINGS_INPUT_TYPE": "true" if self.input_type else "",
            "EMBEDDINGS_QUERY_DEADLINE_MS": str(self.query_deadline_ms or ""),
        }
        data.update({name: value for name, value in optional.items() if value})
        return data


# Room for a hundred uploads at the API's default cap (UPLOAD_MAX_BYTES, 10 MiB).
DEFAULT_DATA_SIZE_LIMIT = "1Gi"


class S3Storage(CamelModel):
    """An S3 bucket (AWS or any S3-compatible store) for uploaded files."""

    bucket: S3Bucket
    endpoint: S3Endpoint = ""
    region: S3Region = "us-east-1"
    credentials_secret: SecretName | None = Field(
        default=None,
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
