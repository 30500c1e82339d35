"""Applies the wanted children of an instance, deletes switched-off ones, restores drifted ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from repairgpt_operator.instance.drift import applies_field, needs_apply
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.instance.verdicts import ChildVerdicts
from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.maintenance.advance import restore_replicas_after_maintenance
from repairgpt_operator.monitoring.discovery import (
    MONITORING_GROUP,
    MONITORING_GROUP_VERSION,
    forget_monitoring_kinds,
    missing_monitoring_kinds,
)
from repairgpt_operator.ownership import (
    FIELD_MANAGER,
    REPLICAS_HANDOFF_MANAGER,
    child_name,
)
from repairgpt_operator.resources import (
    API_CHILD_KINDS,
    ChildRef,
    child_kind,
    desired_children,
    unwanted_children,
)


def describe(manifest: Mapping[str, Any]) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def describe_ref(ref: ChildRef) -> str:
    return f"{ref.kind}/{ref.name}"


def hand_over_replicas(
    kube: Kube, manifest: Mapping[str, Any], live: Mapping[str, Any] | None
) -> None:
    """Keep the replica count when the operator stops setting it (autoscaling switched on).

    The operator applied `replicas` until now; an apply without it would make the API server
    drop the field (back to 1 pod) until the HPA scales up again. Applying the same value under a
    second manager first makes that manager co-own it, so the count survives the apply; the
    HPA's first scaling then takes the field over (an update moves ownership).
    """
    if manifest["kind"] != "Deployment" or "replicas" in manifest["spec"] or live is None:
        return
    if not applies_field(dict(live), FIELD_MANAGER, ("spec", "replicas")):
        return
    replicas = (live.get("spec") or {}).get("replicas")
    if replicas is None:
        return
    metadata = manifest["metadata"]
    kube.apply(
        {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
            "spec": {"replicas": replicas},
        },
        field_manager=REPLICAS_HANDOFF_MANAGER,
    )


def missing_kinds_of_cluster(
    kube: Kube, instance: Instance, outcome: Outcome
) -> frozenset[tuple[str, str]]:
    """The prometheus-operator kinds the cluster lacks (discovery, cached): not applied while
    missing, and not read to find something to delete either."""
    try:
        missing = missing_monitoring_kinds(kube)
    except ApiError as error:
        if not instance.spec.monitoring.enabled:
            # Nothing to create: look for leftovers to delete as if every kind were served.
            missing = frozenset()
        else:
            message = f"discovery: {error.message}"
            outcome.errors.append(ApiError(error.status, error.reason, message))
            missing = frozenset(
                (k.api_version, k.kind) for k in API_CHILD_KINDS if k.group == MONITORING_GROUP
            )
    outcome.monitoring_missing = missing
    return missing


def sync_children(
    kube: Kube,
    instance: Instance,
    *,
    compare: bool,
    live: Mapping[tuple[str, str], dict[str, Any] | None] | None = None,
    watched: Mapping[tuple[str, str], dict[str, Any]] | None = None,
    outcome: Outcome,
    verdicts: ChildVerdicts | None = None,
    trust_watches: bool = False,
    new: bool = False,
) -> dict[tuple[str, str], dict[str, Any] | None]:
    """Apply every wanted child and delete switched-off ones; return the children read or
    written, by (kind, name) (the API Deployment always among them).

    With compare=False every child is applied blindly (create and spec updates, where a change
    is expected); with compare=True a child is written only when it differs from the live object
    (`live` may supply objects already in hand, keyed by (kind, name); None: known absent).
    `verdicts` learns what was found in line, and spares comparing a child whose latest watched
    version already was (the API Deployment is read all the same, the status needs it, unless
    `watched` holds the watch's copy of it and it sets its replicas itself). With
    `trust_watches` (once the watches have listed everything) a switched-off child they never
    saw is not looked for; a `new` instance (no status yet) owns nothing to delete.
    """
    api = ("Deployment", child_name(instance, "api"))
    children: dict[tuple[str, str], dict[str, Any] | None] = {api: None}
    missing = missing_kinds_of_cluster(kube, instance, outcome)
    for manifest in desired_children(instance, missing):
        key = (manifest["kind"], manifest["metadata"]["name"])
        is_api_deployment = key == api
        autoscaled_api = is_api_deployment and "replicas" not in manifest["spec"]
        # An autoscaled API Deployment is looked at on every pass (replicas after maintenance).
        copy = (watched or {}).get(key) if is_api_deployment and not autoscaled_api else None
        if compare and verdicts and (not is_api_deployment or copy) and verdicts.in_sync(manifest):
            if copy is not None:
                children[key] = copy
            continue
        children[key] = _sync_child(
            kube,
            instance,
            manifest,
            compare=compare,
            live=live,
            autoscaled_api=autoscaled_api,
            outcome=outcome,
            verdicts=verdicts,
        )
    if not new:
        seen = verdicts.seen if trust_watches and verdicts is not None else None
        delete_unwanted(kube, instance, missing, outcome, seen=seen)
    return children


def _sync_child(
    kube: Kube,
    instance: Instance,
    manifest: dict[str, Any],
    *,
    compare: bool,
    live: Mapping[tuple[str, str], dict[str, Any] | None] | None,
    autoscaled_api: bool,
    outcome: Outcome,
    verdicts: ChildVerdicts | None,
) -> dict[str, Any] | None:
    """Bring one child in line with `manifest`: read it when comparing (or when it is the
    autoscaled API Deployment, whose replicas are handed over) unless `live` holds it; apply it
    when it differs (always, without `compare`). Returns the child as last read or written."""
    key = (manifest["kind"], manifest["metadata"]["name"])
    current: dict[str, Any] | None = None
    try:
        if (compare or autoscaled_api) and live is not None and key in live:
            current = live[key]
        elif compare or autoscaled_api:
            current = kube.get(manifest["apiVersion"], manifest["kind"], instance.namespace, key[1])
        if autoscaled_api:
            restored = restore_replicas_after_maintenance(kube, instance, manifest, current)
            if restored is not None:
                current = restored
                outcome.applied.append(f"{describe(manifest)} (replicas restored)")
            else:
                hand_over_replicas(kube, manifest, current)
        if not compare or needs_apply(manifest, current):
            current = kube.apply(manifest)
            outcome.applied.append(describe(manifest))
        if verdicts is not None and current is not None:
            verdicts.verified(current, manifest)
    except ApiError as error:
        if error.status == 404 and manifest["apiVersion"] == MONITORING_GROUP_VERSION:
            # The CRD went away since discovery was last asked: ask again next time.
            forget_monitoring_kinds(kube)
        outcome.errors.append(error.about(describe(manifest)))
    return current


def delete_unwanted(
    kube: Kube,
    instance: Instance,
    missing: frozenset[tuple[str, str]],
    outcome: Outcome,
    *,
    seen: Callable[[str, str, str], bool] | None = None,
) -> None:
    """Delete the children that the spec switched off (those that exist; with `seen`, only
    those the watches know of are looked for)."""
    for ref in unwanted_children(instance, missing):
        if seen is not None and not seen(ref.kind, ref.namespace, ref.name):
            continue
        try:
            # Read first: a DELETE of nothing would still be a write request.
            if kube.get(ref.api_version, ref.kind, ref.namespace, ref.name) is None:
                continue
            if kube.delete(ref.api_version, ref.kind, ref.namespace, ref.name):
                outcome.deleted.append(describe_ref(ref))
        except ApiError as error:
            outcome.errors.append(error.about(describe_ref(ref)))


def is_managed_kind(api_version: str, kind: str) -> bool:
    """Whether the operator manages objects of this kind."""
    return child_kind(api_version, kind) is not None
