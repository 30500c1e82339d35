"""The operator's shared state (instance registry, refreshers, restore tracker, failover prober,
resync) and the passes that kopf handlers and background jobs hand work to."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from repairgpt_operator import kube as kube_module
from repairgpt_operator import metrics, reporting
from repairgpt_operator.background import Background, Heartbeat
from repairgpt_operator.backup.job_index import JobIndex
from repairgpt_operator.diffbase import MemoryDiffBase
from repairgpt_operator.failover.prober import FailoverProber, failover_enabled
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.instance.pods import WatchedPods
from repairgpt_operator.instance.reconcile import (
    reconcile_child,
    reconcile_instance,
    refresh_status,
)
from repairgpt_operator.instance.registry import InstanceRegistry
from repairgpt_operator.instance.resync import ResyncScheduler
from repairgpt_operator.instance.spec import API_VERSION, KIND
from repairgpt_operator.instance.status_refresh import StatusRefresher, slim_deployment
from repairgpt_operator.instance.verdicts import ChildVerdicts
from repairgpt_operator.instance.watched import WatchedDeployments
from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.ownership import owner_of
from repairgpt_operator.resources import ChildKind
from repairgpt_operator.restore.reconcile import reconcile_restore
from repairgpt_operator.restore.spec import RESTORE_KIND
from repairgpt_operator.restore.tracker import RestoreTracker
from repairgpt_operator.rollout.reconcile import rollout_step

log = logging.getLogger(__name__)

# Deployment status changes come in bursts; one status write per instance per second is enough.
STATUS_REFRESH_DELAY_SECONDS = 1.0
# A restore waits for maintenance mode and for the API's pods to go: look again this often.
RESTORE_TICK_SECONDS = 2.0
RESTORE_WAKE_DELAY_SECONDS = 0.2


class Runtime:
    """One per operator process, created by kopf's startup hook and kept in kopf's memo."""

    def __init__(self, kube: Callable[[], Kube] = kube_module.shared) -> None:
        self._kube = kube
        self.registry = InstanceRegistry(flags={"failover": failover_enabled})
        # Only the instances have change handlers: kopf compares no other kind's essence.
        self.diffbase = MemoryDiffBase(compared={(API_VERSION, KIND)})
        self.verdicts = ChildVerdicts()
        self.jobs = JobIndex()
        self.deployments = WatchedDeployments()
        self.pods = WatchedPods()
        self.status_refresher = StatusRefresher(self.refresh_status, STATUS_REFRESH_DELAY_SECONDS)
        # Scheduled Jobs are owned by the CronJob, not the instance: matched by their labels.
        self.backup_refresher = StatusRefresher(self.refresh_backup, STATUS_REFRESH_DELAY_SECONDS)
        self.restores = RestoreTracker(self.drive_restore, RESTORE_WAKE_DELAY_SECONDS)
        self.prober = FailoverProber(
            kube,
            lambda: self.registry.keys(flag="failover"),
            self.registry.get,
            self.reconcile_after_switch,
        )
        self.resync = ResyncScheduler(self.registry.keys, self.resync_one)
        metrics.WORK_QUEUE_DEPTH.labels(queue="status").set_function(self.status_refresher.pending)
        metrics.WORK_QUEUE_DEPTH.labels(queue="backup").set_function(self.backup_refresher.pending)
        self.background = Background(
            {
                "heartbeat": Heartbeat().run,
                "resync": self.resync.run,
                "status-refresh": self.status_refresher.run,
                "backup-refresh": self.backup_refresher.run,
                "failover-probes": self.prober.run,
                "restores": lambda: self.restores.run(RESTORE_TICK_SECONDS),
            }
        )

    def reconcile(self, body: Mapping[str, Any], trigger: str, *, compare: bool) -> Outcome:
        """Reconcile one instance, then report and log what it did."""
        kube = self._kube()
        outcome = reconcile_instance(
            kube,
            body,
            compare=compare,
            registry=self.registry,
            verdicts=self.verdicts,
            jobs=self.jobs,
            deployments=self.deployments,
            # At start-up (resume) the watches may not have listed every child yet.
            trust_watches=trigger not in ("resume", "create", "update"),
            pods=self.pods,
        )
        if outcome.namespace_terminating:
            # The namespace controller is deleting the instance with everything else.
            return outcome
        reporting.report(kube, body, trigger, outcome)
        reporting.log_outcome(body, trigger, outcome)
        return outcome

    def reconcile_known(self, namespace: str, name: str, trigger: str) -> None:
        """Reconcile an instance from its remembered body, unless it is unknown or going."""
        body = self.registry.get(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        self.reconcile(body, trigger, compare=True)

    def resync_one(self, namespace: str, name: str) -> None:
        # As an informer's resync, from what the watch delivered (no read): an update that is
        # on its way is applied by its own handler, and a status write computed from an older
        # copy is refused (409) and computed again from a fresh read.
        self.reconcile_known(namespace, name, "resync")

    def reconcile_after_switch(self, body: dict[str, Any]) -> None:
        self.reconcile(body, "failover", compare=True)

    def refresh_status(self, namespace: str, name: str, deployment: dict[str, Any]) -> None:
        """The API Deployment changed: move maintenance or the rollout on, or refresh status."""
        body = self.registry.get(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        phase = ((body.get("status") or {}).get("maintenance") or {}).get("phase")
        if phase in ("Entering", "Exiting"):
            # Entering waits for a ready maintenance pod, leaving for a ready API pod: this may
            # be the event it waits for.
            self.reconcile(body, "maintenance", compare=True)
            return
        step = rollout_step(body, deployment)
        if step == "act":
            # A missed deadline (a rollback), a held upgrade: the children change.
            self.reconcile(body, "rollout", compare=True)
            return
        kube = self._kube()
        outcome = refresh_status(
            kube,
            body,
            deployment,
            registry=self.registry,
            rollout=step == "record",
            pods=self.pods,
        )
        reporting.report(kube, body, "status", outcome)

    def refresh_backup(self, namespace: str, name: str, _job: dict[str, Any]) -> None:
        self.reconcile_known(namespace, name, "backup")

    def on_child_event(self, kind: ChildKind, event: Mapping[str, Any]) -> None:
        """A child changed or went away: restore it if it drifted, refresh the status."""
        child = event.get("object") or {}
        deleted = event.get("type") == "DELETED"
        child_metadata = child.get("metadata") or {}
        verified = False
        if deleted:
            namespace = str(child_metadata.get("namespace"))
            self.verdicts.forget(kind.kind, namespace, str(child_metadata.get("name")))
        else:
            verified = self.verdicts.observe({**child, "kind": kind.kind})
        instance_body = self._owning_instance(child, deleted=deleted)
        if instance_body is None:
            return
        metadata = instance_body["metadata"]
        namespace, name = str(metadata["namespace"]), str(metadata["name"])
        kube = self._kube()
        current = None if deleted else child
        child_name = str(child["metadata"]["name"])
        if verified:
            # The echo of the operator's own write (or a version compared already): nothing
            # to check, nor a manifest to build.
            outcome = Outcome()
        else:
            outcome = reconcile_child(
                kube,
                instance_body,
                current,
                kind=kind.kind,
                name=child_name,
                verdicts=self.verdicts,
            )
            reporting.report(kube, instance_body, "child", outcome)
        is_api_deployment = kind.kind == "Deployment" and child_name == f"{name}-api"
        if is_api_deployment and deleted:
            self.deployments.forget(namespace, name)
        elif is_api_deployment:
            slim = slim_deployment(child)
            self.deployments.remember(namespace, name, slim)
            if not outcome.applied:
                # A restored Deployment comes back as a new event; refresh from that one.
                # Only the latest of a burst is kept per instance, and only what decisions read.
                self.status_refresher.submit(namespace, name, slim)
        if outcome.applied:
            why = "deleted" if deleted else "changed"
            log.info("restored %s of %s/%s (%s)", outcome.applied, namespace, name, why)

    def _owning_instance(self, child: Mapping[str, Any], *, deleted: bool) -> dict[str, Any] | None:
        """The live instance that owns `child` (by owner reference and uid), if any."""
        owner = owner_of(dict(child))
        if owner is None:
            return None
        namespace, name = owner
        instance_body = None if deleted else self.registry.get(namespace, name)
        if instance_body is None:
            # A vanished child may mean a deleted instance (garbage collection): ask the server.
            instance_body = self._kube().get_instance(namespace, name)
        if instance_body is None or instance_body["metadata"].get("deletionTimestamp"):
            return None
        owner_uids = {ref.get("uid") for ref in child["metadata"].get("ownerReferences") or []}
        if instance_body["metadata"].get("uid") not in owner_uids:
            return None
        return instance_body

    def drive_restore(self, namespace: str, name: str) -> bool:
        """One pass over a restore; False once it needs no more passes (finished or gone)."""
        kube = self._kube()
        try:
            body = kube.get(API_VERSION, RESTORE_KIND, namespace, name)
        except ApiError as error:
            log.warning("could not read restore %s/%s: %s", namespace, name, error.message)
            return True
        if body is None:
            return False
        outcome = reconcile_restore(kube, body)
        reporting.report_restore(kube, body, outcome)
        return outcome.phase not in ("Succeeded", "Failed") or bool(outcome.error)
