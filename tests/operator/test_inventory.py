"""The inventory remembers the latest instance bodies, as copies."""

from __future__ import annotations

from repairgpt_operator.inventory import Inventory
from tests.operator.factories import instance_body


def test_remembered_bodies_are_copies_without_managed_fields() -> None:
    inventory = Inventory()
    body = instance_body(name="shop", namespace="repair")
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    inventory.remember(body)
    body["spec"]["image"] = "changed"
    stored = inventory.get("repair", "shop")
    assert stored is not None
    assert stored["spec"]["image"] != "changed"
    assert "managedFields" not in stored["metadata"]
    assert inventory.keys() == [("repair", "shop")] and len(inventory) == 1


def test_forgotten_instances_are_gone() -> None:
    inventory = Inventory()
    inventory.remember(instance_body(name="shop", namespace="repair"))
    inventory.forget("repair", "shop")
    assert inventory.get("repair", "shop") is None
    assert inventory.snapshot() == []


def test_an_older_event_does_not_replace_a_newer_body() -> None:
    inventory = Inventory()
    newer = instance_body(name="shop", namespace="repair", status={"phase": "Running"})
    newer["metadata"]["resourceVersion"] = "120"
    older = instance_body(name="shop", namespace="repair", status={"phase": "Progressing"})
    older["metadata"]["resourceVersion"] = "99"
    inventory.remember(newer)
    inventory.remember(older)
    stored = inventory.get("repair", "shop")
    assert stored is not None and stored["status"]["phase"] == "Running"
