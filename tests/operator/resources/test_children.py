"""The set of children follows the switches of the spec."""

from __future__ import annotations

from repairgpt_operator.ownership import APPLIED_HASH_ANNOTATION
from repairgpt_operator.resources import desired_children, manifest_hash, unwanted_children
from tests.operator.factories import example_instance, make_instance


def _kinds(instance_children: list[dict]) -> list[str]:
    return [child["kind"] for child in instance_children]


def test_minimal_instance_gets_the_always_on_children() -> None:
    assert _kinds(desired_children(make_instance())) == [
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ]


def test_production_instance_gets_hpa_and_ingress_too() -> None:
    kinds = _kinds(desired_children(example_instance("production")))
    assert {"HorizontalPodAutoscaler", "Ingress"} <= set(kinds)


def test_switched_off_kinds_are_listed_for_deletion() -> None:
    instance = make_instance({"networkPolicy": {"enabled": False}})
    unwanted = {(ref.kind, ref.name) for ref in unwanted_children(instance)}
    api, page = f"{instance.name}-api", f"{instance.name}-maintenance"
    assert unwanted == {
        ("HorizontalPodAutoscaler", api),
        ("NetworkPolicy", api),
        ("Ingress", api),
        ("Deployment", page),
        ("CronJob", f"{instance.name}-backup"),
        ("CronJob", f"{instance.name}-verify"),
    }


def test_every_child_carries_the_digest_of_its_manifest() -> None:
    for child in desired_children(make_instance()):
        assert child["metadata"]["annotations"][APPLIED_HASH_ANNOTATION] == manifest_hash(child)


def test_digest_changes_with_the_spec_and_only_then() -> None:
    first = desired_children(make_instance({"image": "app:1"}))
    again = desired_children(make_instance({"image": "app:1"}))
    changed = desired_children(make_instance({"image": "app:2"}))
    digest = {c["kind"]: c["metadata"]["annotations"][APPLIED_HASH_ANNOTATION] for c in first}
    assert digest == {
        c["kind"]: c["metadata"]["annotations"][APPLIED_HASH_ANNOTATION] for c in again
    }
    moved = {
        c["kind"]
        for c in changed
        if c["metadata"]["annotations"][APPLIED_HASH_ANNOTATION] != digest[c["kind"]]
    }
    assert moved == {"Deployment"}
