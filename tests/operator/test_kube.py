"""The API gateway's pure parts: REST paths and the server's error messages."""

from __future__ import annotations

import json

from repairgpt_operator.kube import ApiError, _error_from_body, resource_path


def test_paths_of_core_and_group_kinds() -> None:
    assert (
        resource_path("v1", "ConfigMap", "shop", "x-api")
        == "/api/v1/namespaces/shop/configmaps/x-api"
    )
    assert (
        resource_path("apps/v1", "Deployment", "shop", "x-api")
        == "/apis/apps/v1/namespaces/shop/deployments/x-api"
    )
    assert (
        resource_path("repairgpt.io/v1alpha1", "RepairGPTInstance", "shop")
        == "/apis/repairgpt.io/v1alpha1/namespaces/shop/repairgptinstances"
    )
    assert resource_path("networking.k8s.io/v1", "NetworkPolicy", "s", "n").endswith(
        "/networkpolicies/n"
    )


def test_the_servers_own_message_is_kept() -> None:
    body = json.dumps(
        {
            "kind": "Status",
            "reason": "Invalid",
            "message": 'Deployment.apps "x-api" is invalid: spec.replicas: Invalid value: -1',
        }
    ).encode()
    error = _error_from_body(422, body)
    assert (error.status, error.reason) == (422, "Invalid")
    assert error.message.startswith('Deployment.apps "x-api" is invalid')
    assert not error.retryable


def test_transient_failures_are_retryable_and_terminating_namespaces_recognised() -> None:
    assert ApiError(503, "ServiceUnavailable", "etcd").retryable
    assert ApiError(409, "Conflict", "changed").retryable
    assert ApiError(
        403,
        "Forbidden",
        "unable to create new content in namespace x because it is being terminated",
    ).namespace_terminating
    assert _error_from_body(500, b"not json").message == "not json"
