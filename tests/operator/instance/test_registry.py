"""The registry remembers the latest instance bodies, as copies."""

from __future__ import annotations

from repairgpt_operator.failover.prober import failover_enabled
from repairgpt_operator.instance.registry import InstanceRegistry
from tests.operator.factories import instance_body


def test_remembered_bodies_are_copies_without_managed_fields() -> None:
    registry = InstanceRegistry()
    body = instance_body(name="shop", namespace="repair")
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    registry.remember(body)
    body["spec"]["image"] = "changed"
    stored = registry.get("repair", "shop")
    assert stored is not None
    assert stored["spec"]["image"] != "changed"
    stored["spec"]["image"] = "changed by the reader"  # a copy for each reader
    assert registry.get("repair", "shop")["spec"]["image"] == instance_body()["spec"]["image"]
    assert "managedFields" not in stored["metadata"]
    assert registry.keys() == [("repair", "shop")] and len(registry) == 1


def test_copies_of_the_object_kept_by_kubectl_and_kopf_are_not_remembered() -> None:
    registry = InstanceRegistry()
    body = instance_body(name="shop", namespace="repair")
    body["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"spec": {}}',
        "kopf.repairgpt.io/last-handled-configuration": '{"spec": {}}',
        "repairgpt.io/failback": "now",
    }
    registry.remember(body)
    stored = registry.get("repair", "shop")
    assert stored is not None
    assert stored["metadata"]["annotations"] == {"repairgpt.io/failback": "now"}
    assert len(body["metadata"]["annotations"]) == 3  # the caller's body is left alone


def test_keys_can_be_chosen_by_a_flag_of_the_body_without_reading_the_others() -> None:
    registry = InstanceRegistry(flags={"failover": failover_enabled})
    registry.remember(instance_body(name="a", namespace="repair"))
    with_failover = instance_body(name="b", namespace="repair")
    with_failover["spec"]["failover"] = {"enabled": True}
    registry.remember(with_failover)
    assert registry.keys(flag="failover") == [("repair", "b")]
    assert sorted(registry.keys()) == [("repair", "a"), ("repair", "b")]
    with_failover["spec"]["failover"] = {"enabled": False}  # the flag follows the newest body
    registry.remember(with_failover)
    assert registry.keys(flag="failover") == []


def test_forgotten_instances_are_gone() -> None:
    registry = InstanceRegistry()
    registry.remember(instance_body(name="shop", namespace="repair"))
    registry.forget("repair", "shop")
    assert registry.get("repair", "shop") is None
    assert registry.keys() == []


def test_an_older_event_does_not_replace_a_newer_body() -> None:
    registry = InstanceRegistry()
    newer = instance_body(name="shop", namespace="repair", status={"phase": "Running"})
    newer["metadata"]["resourceVersion"] = "120"
    older = instance_body(name="shop", namespace="repair", status={"phase": "Progressing"})
    older["metadata"]["resourceVersion"] = "99"
    registry.remember(newer)
    registry.remember(older)
    stored = registry.get("repair", "shop")
    assert stored is not None and stored["status"]["phase"] == "Running"
