"""The ConfigMap carries the non-secret settings of the API."""

from __future__ import annotations

from repairgpt_operator.resources.configmap import build_configmap
from tests.operator.factories import example_instance, make_instance


def test_configmap_has_the_settings_of_the_spec() -> None:
    configmap = build_configmap(
        make_instance(
            {
                "config": {
                    "logLevel": "DEBUG",
                    "corsOrigins": ["https://a.example", "https://b.example"],
                }
            },
            name="shop",
        )
    )
    assert configmap["metadata"]["name"] == "shop-api"
    data = configmap["data"]
    assert data["LOG_LEVEL"] == "DEBUG"
    assert data["CORS_ORIGINS"] == "https://a.example,https://b.example"


def test_an_old_object_with_the_retired_debug_and_api_version_still_works_without_them() -> None:
    # The API never read DEBUG or API_VERSION; objects written before they were retired keep
    # working, and the pods are not given settings that do nothing.
    data = build_configmap(make_instance({"config": {"debug": True, "apiVersion": "v2"}}))["data"]
    assert "DEBUG" not in data
    assert "API_VERSION" not in data


def test_behind_the_generated_network_policy_every_peer_is_a_trusted_proxy() -> None:
    # The policy admits only the ingress controller's namespace to the API port, so each peer
    # is the controller and its X-Forwarded-For names the end user.
    data = build_configmap(make_instance())["data"]
    assert data["TRUSTED_PROXIES"] == "*"


def test_without_the_network_policy_no_peer_is_trusted_by_default() -> None:
    data = build_configmap(make_instance({"networkPolicy": {"enabled": False}}))["data"]
    assert data["TRUSTED_PROXIES"] == ""


def test_declared_trusted_proxies_reach_the_api() -> None:
    declared = make_instance(
        {
            "networkPolicy": {"enabled": False},
            "ingress": {"trustedProxies": ["10.0.0.0/8", "fd00::1"]},
        }
    )
    assert build_configmap(declared)["data"]["TRUSTED_PROXIES"] == "10.0.0.0/8,fd00::1"
    none = make_instance({"ingress": {"trustedProxies": []}})
    assert build_configmap(none)["data"]["TRUSTED_PROXIES"] == ""


def test_configmap_holds_no_secret() -> None:
    data = build_configmap(example_instance("production"))["data"]
    joined = " ".join(data.values())
    assert "change-me" not in joined
    assert not {"DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY"} & set(data)


def test_configmap_points_the_api_at_the_upload_bucket() -> None:
    data = build_configmap(example_instance("production"))["data"]
    assert data["S3_BUCKET"] == "repairgpt-uploads"
    assert data["S3_REGION"] == "us-east-1"


def test_all_values_are_strings() -> None:
    data = build_configmap(example_instance("staging"))["data"]
    assert all(isinstance(value, str) for value in data.values())


def test_the_rate_limit_of_the_spec_reaches_the_api() -> None:
    default = build_configmap(make_instance())["data"]
    assert (default["RATE_LIMIT_REQUESTS"], default["RATE_LIMIT_WINDOW_SECONDS"]) == ("120", "60")
    data = build_configmap(
        make_instance({"config": {"rateLimit": {"requests": 0, "windowSeconds": 10}}})
    )["data"]
    assert (data["RATE_LIMIT_REQUESTS"], data["RATE_LIMIT_WINDOW_SECONDS"]) == ("0", "10")


def test_an_openai_compatible_model_keeps_the_apis_default_provider() -> None:
    data = build_configmap(make_instance({"llm": {"baseURL": "http://llm.internal:8080/v1"}}))
    assert data["data"]["OPENAI_BASE_URL"] == "http://llm.internal:8080/v1"
    assert "LLM_PROVIDER" not in data["data"] and "ANTHROPIC_BASE_URL" not in data["data"]


def test_claude_is_selected_with_its_own_base_url_variable() -> None:
    spec = {
        "llm": {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "baseURL": "https://a.example",
        }
    }
    data = build_configmap(make_instance(spec))["data"]
    assert (data["LLM_PROVIDER"], data["LLM_MODEL"]) == ("anthropic", "claude-sonnet-4-5")
    assert data["ANTHROPIC_BASE_URL"] == "https://a.example"
    assert "OPENAI_BASE_URL" not in data
