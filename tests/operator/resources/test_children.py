"""The set of children follows the switches of the spec."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from repairgpt_operator.instance.drift import needs_apply
from repairgpt_operator.ownership import APPLIED_HASH_ANNOTATION
from repairgpt_operator.resources import (
    desired_child,
    desired_child_count,
    desired_children,
    manifest_hash,
    unwanted_children,
    with_applied_hash,
)
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
        "CronJob",  # chat retention, on by default
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
        ("ServiceMonitor", api),
        ("PodMonitor", api),
        ("PrometheusRule", api),
        ("ConfigMap", f"{instance.name}-dashboard"),
    }


def _without_leaf(manifest: Any, path: tuple[str | int, ...]) -> Any:
    copied = copy.deepcopy(manifest)
    node = copied
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return copied


def _leaf_paths(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict) and node:
        return [p for key, value in node.items() for p in _leaf_paths(value, (*path, key))]
    if isinstance(node, list) and node:
        return [p for index, value in enumerate(node) for p in _leaf_paths(value, (*path, index))]
    return [path]


def test_dropping_any_field_of_a_child_changes_its_digest_so_the_apply_is_not_skipped() -> None:
    # A field the operator stops setting is still on the live object, so the live object still
    # contains the desired one: only the digest shows the change.
    own = ("metadata", "annotations", APPLIED_HASH_ANNOTATION)
    for child in desired_children(example_instance("production")):
        assert with_applied_hash(child) == child  # the digest leaves itself out
        for path in _leaf_paths(child):
            if path == own:
                continue
            dropped = with_applied_hash(_without_leaf(child, path))
            assert needs_apply(dropped, child), (child["kind"], path)


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
    # The retention CronJob runs the API's image too.
    assert moved == {"Deployment", "CronJob"}


def _rich_instances() -> list[Any]:
    monitored = {"monitoring": {"enabled": True, "dashboard": True}}
    backed_up = {
        "backup": {
            "enabled": True,
            "verify": {"enabled": True},
            "s3": {"bucket": "shop-backups", "credentialsSecret": "shop-s3"},
        }
    }
    return [
        make_instance(),
        example_instance("production"),
        make_instance({**monitored, **backed_up}),
        make_instance({"monitoring": {"enabled": True, "scrape": "PodMonitor"}}),
    ]


def test_the_status_counts_the_children_without_building_them() -> None:
    monitoring = frozenset({("monitoring.coreos.com/v1", "ServiceMonitor")})
    counts = set()
    for instance in _rich_instances():
        for missing in (frozenset(), monitoring):
            count = desired_child_count(instance, missing)
            assert count == len(desired_children(instance, missing))
            counts.add(count)
    assert len(counts) > 2


def test_the_child_of_a_watch_event_is_built_alone_and_alike() -> None:
    for instance in _rich_instances():
        children = desired_children(instance)
        for child in children:
            alone = desired_child(instance, child["kind"], child["metadata"]["name"])
            assert alone == child, (child["kind"], child["metadata"]["name"])
        assert desired_child(instance, "Deployment", "someone-else") is None
    switched_off = make_instance({"networkPolicy": {"enabled": False}})
    assert desired_child(switched_off, "NetworkPolicy", f"{switched_off.name}-api") is None


def _digest_as_first_stamped(manifest: dict[str, Any]) -> str:
    """The digest as the operator has always computed it (on a deep copy without its own
    annotation): children stamped by an earlier version must not all look changed."""
    stripped = copy.deepcopy(manifest)
    metadata = stripped.get("metadata", {})
    annotations = metadata.get("annotations", {})
    annotations.pop(APPLIED_HASH_ANNOTATION, None)
    if not annotations:
        metadata.pop("annotations", None)
    canonical = json.dumps(stripped, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:20]


def test_the_digest_of_every_child_is_the_one_earlier_versions_stamped() -> None:
    for instance in _rich_instances():
        for child in desired_children(instance):
            assert manifest_hash(child) == _digest_as_first_stamped(child)
            stamped = child["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
            assert stamped == _digest_as_first_stamped(child)
