"""Children point back at their instance."""

from __future__ import annotations

from repairgpt_operator.ownership import child_metadata, owner_of
from tests.operator.factories import make_instance


def test_owner_of_finds_the_instance_of_a_child() -> None:
    instance = make_instance(name="shop", namespace="repair")
    child = {"metadata": child_metadata(instance)}
    assert owner_of(child) == ("repair", "shop")


def test_objects_owned_by_something_else_have_no_instance() -> None:
    child = {
        "metadata": {
            "namespace": "repair",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x"}],
        }
    }
    assert owner_of(child) is None
    assert owner_of({"metadata": {}}) is None
