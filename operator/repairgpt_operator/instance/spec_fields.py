"""The base model, field types and field shapes (sections, status times, CEL rules) of the CR."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

# A Kubernetes name (RFC 1123 subdomain) for the Secrets the spec refers to.
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


# A key inside a Secret.
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"

# Where an S3 bucket is: the same three fields wherever the spec names one.
S3Bucket = Annotated[
    str,
    Field(
        min_length=3,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$",
        description="Bucket name.",
    ),
]
# An http(s) URL of a server the API calls, or empty for the provider's default.
ServerURL = Annotated[str, StringConstraints(max_length=2048, pattern=r"^(https?://\S+)?$")]
S3Endpoint = Annotated[
    ServerURL,
    Field(
        description="Endpoint URL of an S3-compatible store (AWS_ENDPOINT_URL); empty means AWS."
    ),
]
S3Region = Annotated[
    str, Field(min_length=1, max_length=64, description="Region (AWS_DEFAULT_REGION).")
]

# Every reference of the spec to a Secret (same namespace) names it with this type...
SecretName = Annotated[str, StringConstraints(max_length=253, pattern=SECRET_NAME_PATTERN)]
# ... and, where it points at one value, the key with this one.
SecretKey = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)
]


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


class CamelModel(BaseModel):
    """Base of every spec model: camelCase keys on the wire, unknown keys refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


def cel_rule(
    rule: str, message: str, *, reason: str, field_path: str | None = None
) -> dict[str, JsonValue]:
    """One CEL validation rule of a CRD schema, which the API server checks on every write."""
    checked: dict[str, JsonValue] = {"rule": rule, "message": message}
    if field_path is not None:
        checked["fieldPath"] = field_path
    checked["reason"] = reason
    return checked


def required_when(
    switch: str,
    required: str,
    present: str,
    *,
    section: str,
    field_path: str,
    reason: str = "FieldValueRequired",
) -> dict[str, JsonValue]:
    """The CEL rule `<section>.<required> is required when <section>.<switch> is true`;
    `present` is the CEL test that the required value is there."""
    return cel_rule(
        f"!self.{switch} || {present}",
        f"{section}.{required} is required when {section}.{switch} is true",
        field_path=field_path,
        reason=reason,
    )


def cel_rules(*rules: dict[str, JsonValue]) -> ConfigDict:
    """The config of a spec model whose schema carries CEL rules (`x-kubernetes-validations`)."""
    validations: list[JsonValue] = [*rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


def _object_default(model: type[BaseModel]) -> dict[str, Any]:
    # The CRD default of a nested object is the model's own defaults written out in full: the
    # API server validates a default (CEL rules included) before filling in nested defaults, and
    # `kubectl get -o yaml` then shows the effective settings.
    return {"default": model().model_dump(by_alias=True, exclude_none=True, mode="json")}


def section(model: type[BaseModel], description: str) -> Any:
    """A nested section that may be left out: it then takes the model's own defaults."""
    return Field(
        default_factory=model, description=description, json_schema_extra=_object_default(model)
    )


# The OpenAPI format of the RFC 3339 times that the status reports.
DATE_TIME: dict[str, JsonValue] = {"format": "date-time"}


def reported(description: str) -> Any:
    """A status field that stays empty (null) until the operator has observed its value."""
    return Field(default=None, description=description)


def timestamp(description: str) -> Any:
    """A status time (RFC 3339) that stays empty until it has happened."""
    return Field(default=None, description=description, json_schema_extra=DATE_TIME)


# A cron schedule as the CronJob controller accepts it.
CronSchedule = Annotated[str, Field(pattern=CRON_PATTERN)]


def secret_name(description: str) -> Any:
    """The required name of the Secret (same namespace) that a reference points at."""
    return Field(min_length=1, description=description)


def secret_key(default: str, description: str) -> Any:
    """The key of a reference's Secret, with the default that the use gives it."""
    return Field(default=default, description=description)


class DatabaseSecretRef(CamelModel):
    """Where the API finds a PostgreSQL connection URL."""

    secret_name: SecretName = secret_name(
        "Name of the Secret (same namespace) that holds the connection URL."
    )
    key: SecretKey = secret_key(
        "database-url", "Key in the Secret whose value is the libpq/SQLAlchemy URL."
    )
