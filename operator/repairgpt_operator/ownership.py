"""Names, labels and owner references that tie every child object to its RepairGPTInstance."""

from __future__ import annotations

from typing import Any, Literal

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec import API_VERSION, KIND

FIELD_MANAGER = "repairgpt-operator"
# Co-owns spec.replicas of an API Deployment while the operator hands it over to the HPA.
REPLICAS_HANDOFF_MANAGER = "repairgpt-operator-replicas-handoff"
APP_NAME = "repairgpt"

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
VERSION_LABEL = "app.kubernetes.io/version"

# Set on every child: a digest of the manifest the operator last applied, so that a resync can
# tell "the desired state changed" from "nothing to do" without writing.
APPLIED_HASH_ANNOTATION = "repairgpt.io/applied-hash"

Component = Literal["api", "maintenance", "backup", "verify", "dashboard", "retention"]


def child_name(instance: Instance, component: Component = "api") -> str:
    """`<instance>-api`, `-maintenance`, `-backup`, `-verify` or `-dashboard`."""
    return f"{instance.name}-{component}"


def selector_labels(instance: Instance, component: Component = "api") -> dict[str, str]:
    """The labels that select the pods of one component; never change them (selectors are
    immutable on Deployments)."""
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: instance.name,
        COMPONENT_LABEL: component,
    }


def common_labels(instance: Instance, component: Component = "api") -> dict[str, str]:
    """Labels of every child object of one component."""
    return {**selector_labels(instance, component), MANAGED_BY_LABEL: FIELD_MANAGER}


def label_selector(labels: dict[str, str]) -> str:
    """`k=v,k=v` as `kubectl get -l` and the scale subresource expect."""
    return ",".join(f"{key}={value}" for key, value in labels.items())


def owner_reference(instance: Instance) -> dict[str, Any]:
    """The controller owner reference: deleting the instance garbage-collects the child."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": instance.name,
        "uid": instance.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_metadata(instance: Instance, component: Component = "api") -> dict[str, Any]:
    """metadata of a child: name, namespace, labels and the owner reference."""
    return {
        "name": child_name(instance, component),
        "namespace": instance.namespace,
        "labels": common_labels(instance, component),
        "ownerReferences": [owner_reference(instance)],
    }


def owner_of(child: dict[str, Any]) -> tuple[str, str] | None:
    """(namespace, instance name) of the RepairGPTInstance that controls a child, if any."""
    metadata = child.get("metadata") or {}
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("kind") == KIND and ref.get("apiVersion", "").startswith("repairgpt.io/"):
            return str(metadata.get("namespace") or ""), str(ref.get("name"))
    return None
