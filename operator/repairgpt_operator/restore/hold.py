"""The maintenance hold that a running RepairGPTRestore puts on its instance."""

from __future__ import annotations

import dataclasses

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec import API_VERSION, RESTORE_HOLD_ANNOTATION
from repairgpt_operator.kube import Kube
from repairgpt_operator.restore.spec import RESTORE_KIND
from repairgpt_operator.restore.view import is_terminal


def lift_stale_restore_hold(kube: Kube, instance: Instance) -> Instance:
    """Ignore (and remove) a maintenance hold whose restore has finished or was deleted."""
    if instance.state.restore_hold is None or restore_still_holds(kube, instance):
        return instance
    kube.annotate_instance(instance.namespace, instance.name, {RESTORE_HOLD_ANNOTATION: None})
    runtime = dataclasses.replace(instance.state, restore_hold=None)
    return dataclasses.replace(instance, state=runtime)


def restore_still_holds(kube: Kube, instance: Instance) -> bool:
    """Whether the restore named by the instance's hold annotation exists, is about this
    instance and has not finished (a deleted or finished restore no longer holds it)."""
    holder = instance.state.restore_hold
    if holder is None:
        return False
    body = kube.get(API_VERSION, RESTORE_KIND, instance.namespace, holder)
    if body is None:
        return False
    if (body.get("spec") or {}).get("instanceName") != instance.name:
        return False
    return not is_terminal(body.get("status") or {})
