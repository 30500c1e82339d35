"""kopf handlers: thin glue from Kubernetes events to the operator's runtime (`runtime.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from repairgpt_operator import metrics
from repairgpt_operator.diffbase import LeanProgressStorage, MemoryDiffBase, handled_trigger
from repairgpt_operator.instance.reconcile import compares_first
from repairgpt_operator.instance.spec import GROUP, PLURAL, RESTORE_HOLD_ANNOTATION, VERSION
from repairgpt_operator.ownership import (
    COMPONENT_LABEL,
    FIELD_MANAGER,
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
)
from repairgpt_operator.resources import API_CHILD_KINDS, ChildKind
from repairgpt_operator.resources.restore_job import RESTORE_LABEL
from repairgpt_operator.restore.spec import RESTORE_PLURAL
from repairgpt_operator.restore.view import is_terminal
from repairgpt_operator.runtime import Runtime

MAX_RETRY_DELAY_SECONDS = 300.0
# The API pods (not the maintenance page's, nor the Jobs'): the Ready condition says why they
# are not ready.
API_POD_SELECTOR = f"{COMPONENT_LABEL}=api"

# kopf keeps its own state (handler progress, the last handled spec) in annotations under this
# prefix, and leaves every annotation under it out of the old/new comparison. So it must not be
# the prefix of the annotations that ask for an action (repairgpt.io/backup-now, failback): those
# have to trigger an update at once, not wait for the next resync.
KOPF_STATE_PREFIX = f"kopf.{GROUP}"
# Where earlier versions of the operator kept kopf's state: removed when seen.
LEGACY_KOPF_ANNOTATIONS = frozenset(
    f"{GROUP}/{key}"
    for key in (
        "kopf-managed", "last-handled-configuration",
        "reconcile-on-resume", "reconcile-on-create", "reconcile-on-update",
    )
) | {f"{KOPF_STATE_PREFIX}/last-handled-configuration"}  # now kept in memory  # fmt: skip


def retry_delay(retry: int) -> float:
    """Exponential backoff for refused applies: 5 s, 10 s, 20 s ... at most 5 minutes."""
    return float(min(MAX_RETRY_DELAY_SECONDS, 5.0 * (2 ** min(retry, 10))))


def tune(settings: kopf.OperatorSettings, diffbase: MemoryDiffBase | None = None) -> None:
    """kopf's settings: retry state in annotations of our own, the last handled spec in memory
    (`diffbase`), no peering, bounded watches."""
    settings.persistence.progress_storage = LeanProgressStorage(prefix=KOPF_STATE_PREFIX)
    settings.persistence.diffbase_storage = MemoryDiffBase() if diffbase is None else diffbase
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # After writing its retry state, kopf waits for the watch to deliver that version before it
    # looks for changes again; on a busy API server the 5 s default runs out and kopf handles
    # the older version once more.
    settings.persistence.consistency_timeout = 60.0
    # Events are posted by kube.post_event with domain reasons, not kopf's handler chatter.
    settings.posting.enabled = False
    settings.peering.standalone = True
    settings.peering.mandatory = False
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.execution.max_workers = 16
    # kopf runs one task per object with pending events (not bounded: a bound would stall a
    # whole watch while its tasks wait for their own writes to come back); an idle one is let
    # go after a second rather than five, so that fewer of them are kept.
    settings.queueing.idle_timeout = 1.0
    selector = f"{MANAGED_BY_LABEL}={FIELD_MANAGER}"
    for kind in API_CHILD_KINDS:
        # Server-side filtering: only the operator's own children travel over the watches.
        settings.watching.label_selectors[kind.api_version, kind.plural] = selector
    settings.watching.label_selectors["batch/v1", "jobs"] = selector
    settings.watching.label_selectors["v1", "pods"] = f"{selector},{API_POD_SELECTOR}"


def runtime_of(memo: kopf.Memo) -> Runtime:
    """The runtime that the startup hook kept in kopf's memo."""
    runtime = memo["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Tune kopf once, create the runtime and start its background jobs."""
    # With --leader-elect kopf starts only on the Lease holder (runner.py), and with it these
    # jobs: a standby neither reconciles, resyncs, probes databases nor drives restores.
    runtime = Runtime()
    tune(settings, runtime.diffbase)
    memo["runtime"] = runtime
    runtime.background.start()


@kopf.on.cleanup()
async def stop_background(memo: kopf.Memo, **_: Any) -> None:
    """Stop the background jobs."""
    if "runtime" in memo:
        runtime_of(memo).background.stop()


@kopf.on.event(GROUP, VERSION, PLURAL, id="remember-instance")
def remember_instance(event: Mapping[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Keep the registry (and the managed-instances gauge) current."""
    runtime = runtime_of(memo)
    registry = runtime.registry
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    if event.get("type") == "DELETED":
        registry.forget(namespace, name)
        runtime.diffbase.forget(str(body.metadata.uid))
        runtime.deployments.forget(namespace, name)
        runtime.pods.forget(namespace, name)
        metrics.INSTANCES.forget(namespace, name)
    else:
        registry.remember(body)
    metrics.MANAGED_INSTANCES.set(len(registry))


@kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile-on-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile-on-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="reconcile-on-update")
def reconcile_on_change(
    body: kopf.Body, reason: Any, retry: int, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Apply the children of a new, changed or (on operator start) resumed instance."""
    for key in LEGACY_KOPF_ANNOTATIONS & set(body.metadata.annotations):
        patch.metadata.annotations[key] = None
    trigger = handled_trigger(str(getattr(reason, "value", reason)), body)
    outcome = runtime_of(memo).reconcile(body, trigger, compare=compares_first(body, trigger))
    if outcome.invalid_spec:
        raise kopf.PermanentError(outcome.invalid_spec)
    if outcome.errors and not outcome.namespace_terminating:
        raise kopf.TemporaryError(outcome.error_message, delay=retry_delay(retry))


def _register_child_watch(kind: ChildKind) -> None:
    def on_child_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
        runtime_of(memo).on_child_event(kind, event)

    kopf.on.event(
        group=kind.group,
        version=kind.api_version.rpartition("/")[2],
        plural=kind.plural,
        labels={MANAGED_BY_LABEL: FIELD_MANAGER},
        id=f"watch-{kind.plural}",
    )(on_child_event)


# One watch per resource type (the API and the maintenance Deployment share one).
for _kind in {kind.plural: kind for kind in reversed(API_CHILD_KINDS)}.values():
    _register_child_watch(_kind)


@kopf.on.event(
    "", "v1", "pods", labels={MANAGED_BY_LABEL: FIELD_MANAGER, COMPONENT_LABEL: "api"},
    id="watch-api-pods",
)  # fmt: skip
async def on_api_pod_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    """Keep the watch's copies of the API pods, which the Ready condition's reasons read (on the
    event loop: a dictionary update is all it takes)."""
    pod = event.get("object") or {}
    runtime_of(memo).pods.observe(pod, deleted=event.get("type") == "DELETED")


@kopf.on.event("batch", "v1", "jobs", labels={MANAGED_BY_LABEL: FIELD_MANAGER}, id="watch-jobs")
def on_job_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    """A backup, verification or restore Job started, finished or went away: bring the status of
    its instance (or its restore) up to date. Every Job is noted in the runtime's Job index."""
    runtime = runtime_of(memo)
    job = event.get("object") or {}
    runtime.jobs.observe(job, deleted=event.get("type") == "DELETED")
    metadata = job.get("metadata") or {}
    labels = metadata.get("labels") or {}
    namespace = str(metadata.get("namespace"))
    component = labels.get(COMPONENT_LABEL)
    if component == "restore" and labels.get(RESTORE_LABEL):
        runtime.restores.wake(namespace, str(labels[RESTORE_LABEL]))
    elif component in ("backup", "verify") and labels.get(INSTANCE_LABEL):
        # The refresh reads the Jobs afresh: nothing of this one needs keeping meanwhile.
        runtime.backup_refresher.submit(namespace, str(labels[INSTANCE_LABEL]), {})


@kopf.on.event(GROUP, VERSION, RESTORE_PLURAL, id="watch-restores")
def on_restore_event(event: Mapping[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Track unfinished restores; a deleted one lifts its maintenance hold at once."""
    runtime = runtime_of(memo)
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    if event.get("type") == "DELETED":
        runtime.restores.forget(namespace, name)
        instance_name = str((body.get("spec") or {}).get("instanceName") or "")
        instance_body = runtime.registry.get(namespace, instance_name)
        annotations = ((instance_body or {}).get("metadata") or {}).get("annotations") or {}
        if instance_body is not None and annotations.get(RESTORE_HOLD_ANNOTATION) == name:
            runtime.reconcile(instance_body, "restore", compare=True)
        return
    if not is_terminal(body.get("status") or {}):
        runtime.restores.wake(namespace, name)
