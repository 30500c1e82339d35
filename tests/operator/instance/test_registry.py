"""The registry remembers the latest instance bodies, as copies."""

from __future__ import annotations

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
    assert "managedFields" not in stored["metadata"]
    assert registry.keys() == [("repair", "shop")] and len(registry) == 1


def test_forgotten_instances_are_gone() -> None:
    registry = InstanceRegistry()
    registry.remember(instance_body(name="shop", namespace="repair"))
    registry.forget("repair", "shop")
    assert registry.get("repair", "shop") is None
    assert registry.snapshot() == []


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
