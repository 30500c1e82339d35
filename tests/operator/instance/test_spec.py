"""The spec models accept the documented CR and refuse what the CRD refuses."""

from __future__ import annotations

import pytest

from repairgpt_operator.instance.model import Instance, InvalidSpec
from repairgpt_operator.instance.spec_fields import CRON_PATTERN
from tests.operator.factories import example_instance, instance_body, make_instance


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = make_instance().spec
    assert spec.replicas == 1
    assert spec.autoscaling.enabled is False
    assert spec.resources.requests.cpu == "500m"
    assert spec.resources.limits.memory == "1Gi"
    assert spec.config.log_level == "INFO"
    assert spec.network_policy.enabled is True
    assert spec.maintenance.message == "RepairGPT is under maintenance"
    assert spec.failover.failback == "Manual"
    assert spec.backup.schedule == "0 * * * *"
    assert spec.backup.retention_days == 30


def test_design_contract_field_names_are_accepted() -> None:
    spec = make_instance(
        {
            "autoscaling": {
                "enabled": True,
                "minReplicas": 5,
                "maxReplicas": 20,
                "targetCPUUtilizationPercentage": 70,
                "targetMemoryUtilizationPercentage": 80,
            },
            "llm": {"model": "m", "baseURL": "http://llm:8080/v1"},
        }
    ).spec
    assert spec.autoscaling.target_cpu_utilization_percentage == 70
    assert spec.autoscaling.target_memory_utilization_percentage == 80
    assert spec.llm.base_url == "http://llm:8080/v1"


def test_production_example_parses_with_the_operations_guide_numbers() -> None:
    spec = example_instance("production").spec
    assert (spec.autoscaling.min_replicas, spec.autoscaling.max_replicas) == (5, 20)
    assert spec.resources.requests.cpu == "1"
    assert spec.resources.limits.memory == "2Gi"
    assert spec.failover.enabled and spec.database.replica is not None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"replicas": -1}, "replicas"),
        ({"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "minReplicas"),
        ({"failover": {"enabled": True}}, "replica"),
        ({"backup": {"enabled": True}}, "bucket"),
        ({"backup": {"schedule": "every hour"}}, "schedule"),
        ({"ingress": {"enabled": True}}, "host"),
        ({"surprise": 1}, "surprise"),
        ({"config": {"logLevel": "LOUD"}}, "logLevel"),
    ],
)
def test_invalid_specs_are_refused_naming_the_field(override: dict, field: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        Instance.from_body(instance_body(override))
    assert field.lower() in str(caught.value).lower()


def test_refusal_message_does_not_echo_values() -> None:
    body = instance_body({"database": {"primary": {"secretName": "Not_Valid!", "key": "k"}}})
    with pytest.raises(InvalidSpec) as caught:
        Instance.from_body(body)
    assert "Not_Valid!" not in str(caught.value)


@pytest.mark.parametrize(
    "schedule", ["0 * * * *", "*/15 2-4 1,15 * MON-FRI", "30 3 * JAN 0", "@hourly", "0 0 1 1 7"]
)
def test_cron_pattern_accepts_five_field_schedules(schedule: str) -> None:
    import re

    assert re.match(CRON_PATTERN, schedule)


@pytest.mark.parametrize(
    "schedule", ["* * * *", "60 * * * *", "0 24 * * *", "hourly", "0 * * * * *"]
)
def test_cron_pattern_refuses_malformed_schedules(schedule: str) -> None:
    import re

    assert not re.match(CRON_PATTERN, schedule)


def test_trusted_proxies_take_addresses_networks_and_any() -> None:
    proxies = ["10.0.0.0/8", "192.168.1.7", "fd00::/8", "*"]
    spec = make_instance({"ingress": {"trustedProxies": proxies}}).spec
    assert spec.ingress.trusted_proxies == proxies
    assert make_instance().spec.ingress.trusted_proxies is None


@pytest.mark.parametrize("proxy", ["10.0.0.0/33", "300.1.1.1", "1.2.3", "1:2:3:4:5:6:7:8:9"])
def test_trusted_proxies_refuse_what_is_no_address(proxy: str) -> None:
    # Shaped like an address (the schema's pattern lets them in), yet none.
    with pytest.raises(InvalidSpec) as caught:
        Instance.from_body(instance_body({"ingress": {"trustedProxies": [proxy]}}))
    assert "trustedProxies" in str(caught.value)
    assert "IP addresses, CIDRs or *" in str(caught.value)


def test_the_admin_key_secret_is_a_secret_reference() -> None:
    spec = make_instance({"adminApiKeySecret": {"name": "repairgpt-admin"}}).spec
    assert spec.admin_api_key_secret is not None
    assert (spec.admin_api_key_secret.name, spec.admin_api_key_secret.key) == (
        "repairgpt-admin",
        "api-key",
    )


def test_retired_config_fields_are_accepted_and_dropped() -> None:
    config = make_instance({"config": {"debug": True, "apiVersion": "v2"}}).spec.config
    assert set(config.model_dump(by_alias=True)) == {"logLevel", "corsOrigins", "rateLimit"}


def test_an_unknown_llm_provider_is_refused_with_the_ones_accepted() -> None:
    with pytest.raises(InvalidSpec) as caught:
        make_instance({"llm": {"provider": "bard"}})
    assert "spec.llm.provider" in str(caught.value)
    assert "'openai' or 'anthropic'" in str(caught.value)
