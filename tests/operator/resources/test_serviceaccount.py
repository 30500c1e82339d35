"""The API runs under its own ServiceAccount without an API token."""

from __future__ import annotations

from repairgpt_operator.resources.deployment import build_deployment
from repairgpt_operator.resources.serviceaccount import build_serviceaccount
from tests.operator.factories import make_instance


def test_serviceaccount_is_the_one_the_pods_use_and_mounts_no_token() -> None:
    instance = make_instance(name="shop")
    account = build_serviceaccount(instance)
    assert account["metadata"]["name"] == "shop-api"
    assert account["automountServiceAccountToken"] is False
    pod = build_deployment(instance)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "shop-api"
