"""Pure builders of the objects the operator manages for one RepairGPTInstance.

One module per kind; each `build_<kind>(instance) -> dict` returns a complete manifest for
server-side apply and does no I/O.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.maintenance.state import keeps_api_guards, runs_maintenance_page
from repairgpt_operator.ownership import APPLIED_HASH_ANNOTATION, Component, child_name
from repairgpt_operator.resources.backup_cronjob import build_backup_cronjob, build_verify_cronjob
from repairgpt_operator.resources.configmap import build_configmap
from repairgpt_operator.resources.deployment import build_deployment
from repairgpt_operator.resources.hpa import build_hpa
from repairgpt_operator.resources.ingress import build_ingress
from repairgpt_operator.resources.maintenance_deployment import build_maintenance_deployment
from repairgpt_operator.resources.monitoring import (
    build_dashboard_configmap,
    build_pod_monitor,
    build_prometheus_rule,
    build_service_monitor,
)
from repairgpt_operator.resources.networkpolicy import build_networkpolicy
from repairgpt_operator.resources.pdb import build_pdb
from repairgpt_operator.resources.retention_cronjob import (
    build_retention_cronjob,
    retention_wanted,
)
from repairgpt_operator.resources.service import build_service
from repairgpt_operator.resources.serviceaccount import build_serviceaccount


@dataclass(frozen=True)
class ApiKind:
    """A Kubernetes kind as the API server names it."""

    api_version: str
    kind: str
    plural: str


SERVICE_ACCOUNT = ApiKind("v1", "ServiceAccount", "serviceaccounts")
CONFIG_MAP = ApiKind("v1", "ConfigMap", "configmaps")
SERVICE = ApiKind("v1", "Service", "services")
DEPLOYMENT = ApiKind("apps/v1", "Deployment", "deployments")
CRON_JOB = ApiKind("batch/v1", "CronJob", "cronjobs")
POD_DISRUPTION_BUDGET = ApiKind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
HORIZONTAL_POD_AUTOSCALER = ApiKind(
    "autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"
)
NETWORK_POLICY = ApiKind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
INGRESS = ApiKind("networking.k8s.io/v1", "Ingress", "ingresses")
SERVICE_MONITOR = ApiKind("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors")
POD_MONITOR = ApiKind("monitoring.coreos.com/v1", "PodMonitor", "podmonitors")
PROMETHEUS_RULE = ApiKind("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules")


@dataclass(frozen=True)
class ChildKind:
    """A kind of object the operator manages, and when an instance wants one."""

    api: ApiKind
    build: Callable[[Instance], dict[str, Any]]
    wanted: Callable[[Instance], bool]
    component: Component = "api"

    @property
    def api_version(self) -> str:
        return self.api.api_version

    @property
    def kind(self) -> str:
        return self.api.kind

    @property
    def plural(self) -> str:
        return self.api.plural

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


@dataclass(frozen=True)
class ChildRef:
    """The identity of one child object."""

    api_version: str
    kind: str
    namespace: str
    name: str


def _always(_: Instance) -> bool:
    return True


def _pdb_wanted(instance: Instance) -> bool:
    # Not while maintenance holds the API at zero: a PDB over no pods only raises alerts.
    return instance.spec.pod_disruption_budget.enabled and keeps_api_guards(
        instance.state.maintenance
    )


def _hpa_wanted(instance: Instance) -> bool:
    # Removed during maintenance: an HPA would scale the API back up.
    return instance.spec.autoscaling.enabled and keeps_api_guards(instance.state.maintenance)


def _maintenance_page_wanted(instance: Instance) -> bool:
    return runs_maintenance_page(instance.state.maintenance)


def _scraped_by(kind: str) -> Callable[[Instance], bool]:
    def wanted(instance: Instance) -> bool:
        monitoring = instance.spec.monitoring
        return monitoring.enabled and monitoring.scrape == kind

    return wanted


# In apply order: what the Deployment references exists before it.
API_CHILD_KINDS: tuple[ChildKind, ...] = (
    ChildKind(SERVICE_ACCOUNT, build_serviceaccount, _always),
    ChildKind(CONFIG_MAP, build_configmap, _always),
    ChildKind(DEPLOYMENT, build_deployment, _always),
    ChildKind(
        DEPLOYMENT, build_maintenance_deployment, _maintenance_page_wanted, component="maintenance"
    ),
    ChildKind(SERVICE, build_service, _always),
    ChildKind(POD_DISRUPTION_BUDGET, build_pdb, _pdb_wanted),
    ChildKind(HORIZONTAL_POD_AUTOSCALER, build_hpa, _hpa_wanted),
    ChildKind(NETWORK_POLICY, build_networkpolicy, lambda i: i.spec.network_policy.enabled),
    ChildKind(INGRESS, build_ingress, lambda i: i.spec.ingress.enabled),
    ChildKind(CRON_JOB, build_backup_cronjob, lambda i: i.spec.backup.enabled, component="backup"),
    ChildKind(
        CRON_JOB,
        build_verify_cronjob,
        lambda i: i.spec.backup.enabled and i.spec.backup.verify.enabled,
        component="verify",
    ),
    ChildKind(CRON_JOB, build_retention_cronjob, retention_wanted, component="retention"),
    # Monitoring: the prometheus-operator kinds only where the cluster serves them (see
    # `desired_children`'s `missing`); the dashboard ConfigMap needs no CRD.
    ChildKind(SERVICE_MONITOR, build_service_monitor, _scraped_by("ServiceMonitor")),
    ChildKind(POD_MONITOR, build_pod_monitor, _scraped_by("PodMonitor")),
    ChildKind(PROMETHEUS_RULE, build_prometheus_rule, lambda i: i.spec.monitoring.enabled),
    ChildKind(
        CONFIG_MAP,
        build_dashboard_configmap,
        lambda i: i.spec.monitoring.enabled and i.spec.monitoring.dashboard,
        component="dashboard",
    ),
)

# (apiVersion, kind) pairs that the cluster may not serve.
Kinds = frozenset[tuple[str, str]]


def manifest_hash(manifest: dict[str, Any]) -> str:
    """A digest of a manifest (without its own hash annotation)."""
    stripped = manifest
    if "metadata" in manifest:
        metadata = dict(manifest["metadata"])
        annotations = {
            key: value
            for key, value in (metadata.get("annotations") or {}).items()
            if key != APPLIED_HASH_ANNOTATION
        }
        if annotations:
            metadata["annotations"] = annotations
        else:
            metadata.pop("annotations", None)
        stripped = {**manifest, "metadata": metadata}
    canonical = json.dumps(stripped, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:20]


def _stamp(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest itself, now carrying its own digest as an annotation."""
    digest = manifest_hash(manifest)
    manifest["metadata"].setdefault("annotations", {})[APPLIED_HASH_ANNOTATION] = digest
    return manifest


def with_applied_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of the manifest that carries its own digest as an annotation."""
    return _stamp(copy.deepcopy(manifest))


def _served(kind: ChildKind, missing: Kinds) -> bool:
    return (kind.api_version, kind.kind) not in missing


def _wanted_kinds(instance: Instance, missing: Kinds) -> list[ChildKind]:
    return [kind for kind in API_CHILD_KINDS if kind.wanted(instance) and _served(kind, missing)]


def desired_children(instance: Instance, missing: Kinds = frozenset()) -> list[dict[str, Any]]:
    """Every child the instance wants now, stamped with its digest, in apply order; kinds in
    `missing` (not served by the cluster) are left out."""
    # A fresh build: stamped in place.
    return [_stamp(kind.build(instance)) for kind in _wanted_kinds(instance, missing)]


def desired_child_count(instance: Instance, missing: Kinds = frozenset()) -> int:
    """How many children `desired_children` gives, without building (or hashing) any."""
    return len(_wanted_kinds(instance, missing))


def desired_child(instance: Instance, kind: str, name: str) -> dict[str, Any] | None:
    """The one child of this kind and name that the instance wants now (built alone: a watch
    event is about one child), or None."""
    for child in API_CHILD_KINDS:
        if child.kind == kind and child_name(instance, child.component) == name:
            if child.wanted(instance):
                return _stamp(child.build(instance))
    return None


def unwanted_children(instance: Instance, missing: Kinds = frozenset()) -> list[ChildRef]:
    """Children of optional kinds that the instance has switched off (to delete if present);
    kinds the cluster does not serve cannot have any."""
    return [
        ChildRef(
            kind.api_version, kind.kind, instance.namespace, child_name(instance, kind.component)
        )
        for kind in API_CHILD_KINDS
        if not kind.wanted(instance) and _served(kind, missing)
    ]


def child_kind(api_version: str, kind: str) -> ChildKind | None:
    """The ChildKind of an object, or None if the operator does not manage that kind."""
    for candidate in API_CHILD_KINDS:
        if candidate.api_version == api_version and candidate.kind == kind:
            return candidate
    return None


__all__ = [
    "API_CHILD_KINDS",
    "ApiKind",
    "ChildKind",
    "ChildRef",
    "build_backup_cronjob",
    "build_dashboard_configmap",
    "build_pod_monitor",
    "build_prometheus_rule",
    "build_service_monitor",
    "build_verify_cronjob",
    "build_configmap",
    "build_deployment",
    "build_hpa",
    "build_ingress",
    "build_maintenance_deployment",
    "build_networkpolicy",
    "build_pdb",
    "build_retention_cronjob",
    "build_service",
    "build_serviceaccount",
    "child_kind",
    "desired_child",
    "desired_child_count",
    "desired_children",
    "manifest_hash",
    "unwanted_children",
    "with_applied_hash",
]
