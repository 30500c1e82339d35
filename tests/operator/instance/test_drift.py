"""Drift detection tells a changed child from one the API server merely filled in."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from repairgpt_operator.instance.drift import is_subset, needs_apply, parse_quantity
from repairgpt_operator.resources import desired_children
from tests.operator.factories import example_instance


def _deployment() -> dict:
    return next(
        c for c in desired_children(example_instance("production")) if c["kind"] == "Deployment"
    )


def _as_stored(manifest: dict) -> dict:
    """What the API server returns: defaults added, quantities canonical, status present."""
    live = copy.deepcopy(manifest)
    live["metadata"]["uid"] = "abc"
    live["metadata"]["resourceVersion"] = "42"
    spec = live["spec"]
    spec["replicas"] = 7  # set by the HPA
    spec["progressDeadlineSeconds"] = 600
    pod = spec["template"]["spec"]
    pod["dnsPolicy"] = "ClusterFirst"
    container = pod["containers"][0]
    container["terminationMessagePath"] = "/dev/termination-log"
    container["livenessProbe"]["successThreshold"] = 1
    container["resources"]["requests"]["memory"] = "1024Mi"
    container["env"].reverse()
    live["status"] = {"replicas": 7}
    return live


def test_a_child_as_stored_by_the_server_needs_no_apply() -> None:
    desired = _deployment()
    assert not needs_apply(desired, _as_stored(desired))


def test_a_missing_child_needs_apply() -> None:
    assert needs_apply(_deployment(), None)


def test_an_edited_image_needs_apply() -> None:
    desired = _deployment()
    live = _as_stored(desired)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:latest"
    assert needs_apply(desired, live)


def test_a_removed_env_var_needs_apply() -> None:
    desired = _deployment()
    live = _as_stored(desired)
    live["spec"]["template"]["spec"]["containers"][0]["env"].pop()
    assert needs_apply(desired, live)


def test_a_new_desired_state_needs_apply_even_if_the_old_fields_still_match() -> None:
    desired = _deployment()
    live = _as_stored(desired)
    live["metadata"]["annotations"]["repairgpt.io/applied-hash"] = "older"
    assert needs_apply(desired, live)


def test_scalar_lists_must_match_exactly() -> None:
    assert is_subset({"drop": ["ALL"]}, {"drop": ["ALL"]})
    assert not is_subset({"drop": ["ALL"]}, {"drop": ["ALL", "NET_RAW"]})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1Gi", Decimal(2**30)),
        ("1024Mi", Decimal(2**30)),
        ("2", Decimal(2)),
        (2, Decimal(2)),
        ("1e3", Decimal(1000)),
        ("1k", Decimal(1000)),
    ],
)
def test_quantities_compare_by_value(text: object, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_non_quantities_are_not_numbers() -> None:
    assert parse_quantity("http") is None
    assert parse_quantity(True) is None
    assert not is_subset({"port": "http"}, {"port": "https"})


def test_field_ownership_is_read_from_managed_fields() -> None:
    from repairgpt_operator.instance.drift import applies_field

    live = {
        "metadata": {
            "managedFields": [
                {
                    "manager": "repairgpt-operator",
                    "operation": "Apply",
                    "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "fieldsV1": {"f:status": {"f:replicas": {}}},
                },
            ]
        }
    }
    assert applies_field(live, "repairgpt-operator", ("spec", "replicas"))
    assert not applies_field(live, "repairgpt-operator", ("status", "replicas"))
    assert not applies_field(live, "kube-controller-manager", ("status", "replicas"))
    assert not applies_field(None, "repairgpt-operator", ("spec", "replicas"))
