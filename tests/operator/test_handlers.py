"""kopf's settings: the annotations that ask for an action reach the update handler at once; which
change-triggered reconciliations read the children first."""

from __future__ import annotations

import copy
from typing import Any

import kopf
import pytest

from repairgpt_operator.backup.on_demand import BACKUP_NOW_ANNOTATION
from repairgpt_operator.diffbase import LeanProgressStorage, MemoryDiffBase, handled_trigger
from repairgpt_operator.failover.decision import FAILBACK_ANNOTATION
from repairgpt_operator.handlers import KOPF_STATE_PREFIX, tune
from repairgpt_operator.instance.reconcile import compares_first
from repairgpt_operator.instance.spec import API_VERSION, KIND
from repairgpt_operator.rollout.restart import RESTART_ANNOTATION
from repairgpt_operator.rollout.upgrade import SKIP_ANNOTATION
from repairgpt_operator.runtime import Runtime


def _essence(settings: kopf.OperatorSettings, annotations: dict[str, str]) -> dict[str, Any]:
    body = kopf.Body(
        {
            "apiVersion": "repairgpt.io/v1alpha1",
            "kind": "RepairGPTInstance",
            "metadata": {"name": "r", "namespace": "n", "annotations": annotations},
            "spec": {"image": "app:1"},
        }
    )
    essence: dict[str, Any] = settings.persistence.diffbase_storage.build(body=body)
    return essence


def test_action_annotations_are_part_of_what_kopf_compares() -> None:
    settings = kopf.OperatorSettings()
    tune(settings)
    # An instance the operator has handled carries kopf's marker under kopf's own prefix.
    handled = {f"{KOPF_STATE_PREFIX}/kopf-managed": "yes"}
    before = _essence(settings, handled)
    for annotation in (
        BACKUP_NOW_ANNOTATION,
        FAILBACK_ANNOTATION,
        RESTART_ANNOTATION,
        SKIP_ANNOTATION,
    ):
        after = _essence(settings, {**handled, annotation: "t1"})
        assert after != before, f"{annotation} would not trigger an update"
        assert after["metadata"]["annotations"] == {annotation: "t1"}


def test_kopfs_own_state_stays_out_of_the_comparison() -> None:
    settings = kopf.OperatorSettings()
    tune(settings)
    state = {
        f"{KOPF_STATE_PREFIX}/kopf-managed": "yes",
        f"{KOPF_STATE_PREFIX}/last-handled-configuration": "{}",
        f"{KOPF_STATE_PREFIX}/reconcile-on-update": "{}",
    }
    assert "metadata" not in _essence(settings, state)


@pytest.mark.parametrize(
    "essence",
    [
        {"spec": {"image": "app:1"}, "metadata": {"labels": {"team": "a"}}},
        {"spec": {"image": "app:1"}},
        {"metadata": {"annotations": {f"{KOPF_STATE_PREFIX}/reconcile-on-update": "{}"}}},
        {"metadata": {"annotations": {f"{KOPF_STATE_PREFIX}/x": "{}", "team": "a"}}},
        {"spec": {}, "metadata": {"labels": {}, "annotations": {"team": "a"}}},
        {"spec": {}, "metadata": {"annotations": {}}},
        {"spec": {}, "metadata": {}},
        {"spec": {}, "status": {}},
        {},
    ],
)
def test_the_progress_storage_clears_an_essence_as_kopfs_own(essence: dict[str, Any]) -> None:
    """The operator's progress storage leaves kopf's comparison as it was: what kopf's own
    storage takes out of an essence (its retry annotations, empty stanzas) it takes out too, and
    the essence it was given stays as it was."""
    settings = kopf.OperatorSettings()
    tune(settings)
    storage = settings.persistence.progress_storage
    assert isinstance(storage, LeanProgressStorage)
    given = copy.deepcopy(essence)
    kopfs = kopf.AnnotationsProgressStorage(prefix=KOPF_STATE_PREFIX)
    assert storage.clear(essence=given) == kopfs.clear(essence=copy.deepcopy(essence))
    assert given == essence


def test_the_progress_storage_copies_no_essence_it_leaves_unchanged() -> None:
    storage = LeanProgressStorage(prefix=KOPF_STATE_PREFIX)
    plain: Any = {"spec": {"image": "app:1"}, "metadata": {"annotations": {"team": "a"}}}
    assert storage.clear(essence=plain) is plain
    retrying: Any = {"metadata": {"annotations": {f"{KOPF_STATE_PREFIX}/reconcile": "{}"}}}
    assert storage.clear(essence=retrying) is not retrying


@pytest.mark.parametrize(
    ("trigger", "generation", "observed", "compare"),
    [
        ("resume", 3, 1, True),
        ("create", 1, None, False),  # a new instance: every child is new
        ("update", 4, 3, False),  # a new generation: its children are about to change
        ("create", 1, 1, True),  # the same creation handed over again after the status write
        ("update", 4, 4, True),  # an annotation changed, not the spec
    ],
)
def test_only_a_new_generation_is_applied_without_reading_first(
    trigger: str, generation: int, observed: int | None, compare: bool
) -> None:
    status = {} if observed is None else {"observedGeneration": observed}
    body = {"metadata": {"generation": generation}, "status": status}
    assert compares_first(body, trigger) is compare


def test_the_last_handled_spec_is_kept_in_memory_not_written_to_the_object() -> None:
    settings = kopf.OperatorSettings()
    tune(settings)
    storage = settings.persistence.diffbase_storage
    body = kopf.Body(
        {
            "apiVersion": "repairgpt.io/v1alpha1",
            "kind": "RepairGPTInstance",
            "metadata": {"name": "r", "namespace": "n", "uid": "u-1"},
            "spec": {"image": "app:1"},
        }
    )
    assert storage.fetch(body=body) is None  # first sight: kopf calls it a creation
    essence = storage.build(body=body)
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=essence)
    assert not patch, patch
    assert storage.fetch(body=body) == {"spec": {"image": "app:1"}}
    assert isinstance(storage, MemoryDiffBase)
    storage.forget("u-1")
    assert storage.fetch(body=body) is None


def test_the_kept_essence_is_the_one_kopf_builds_from_the_whole_body() -> None:
    settings = kopf.OperatorSettings()
    tune(settings)
    body = kopf.Body(
        {
            "apiVersion": "repairgpt.io/v1alpha1",
            "kind": "RepairGPTInstance",
            "metadata": {
                "name": "r", "namespace": "n", "uid": "u-1", "generation": 3,
                "labels": {"team": "a"},
                "annotations": {
                    f"{KOPF_STATE_PREFIX}/kopf-managed": "yes",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    RESTART_ANNOTATION: "t1",
                },
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            },
            "spec": {"image": "app:1", "replicas": 2},
            "status": {"observedGeneration": 3, "phase": "Ready"},
        }
    )  # fmt: skip
    reference = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_STATE_PREFIX)
    essence = settings.persistence.diffbase_storage.build(body=body)
    assert essence == reference.build(body=body)
    assert essence == {
        "spec": {"image": "app:1", "replicas": 2},
        "metadata": {"labels": {"team": "a"}, "annotations": {RESTART_ANNOTATION: "t1"}},
    }


class _Uncopyable:
    def __deepcopy__(self, memo: dict[int, Any]) -> _Uncopyable:
        raise AssertionError("copied")


def test_the_essence_is_built_without_copying_the_status_or_managed_fields() -> None:
    """kopf's own build deep-copies the whole body first; this one copies only what it keeps."""
    settings = kopf.OperatorSettings()
    tune(settings)
    body = kopf.Body(
        {
            "metadata": {"name": "r", "uid": "u-1", "managedFields": [_Uncopyable()]},
            "spec": {"image": "app:1"},
            "status": {"big": _Uncopyable()},
        }
    )
    with pytest.raises(AssertionError, match="copied"):
        kopf.AnnotationsDiffBaseStorage(prefix=KOPF_STATE_PREFIX).build(body=body)
    assert settings.persistence.diffbase_storage.build(body=body) == {"spec": {"image": "app:1"}}


def test_only_the_instances_essence_is_built() -> None:
    """kopf builds an essence at every event of every kind it watches and compares only those of
    kinds with change handlers: a child's would be a deep copy of its spec, thrown away."""
    store = Runtime().diffbase
    deployment = kopf.Body(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "r-api", "uid": "u-2", "labels": {"app": "r"}},
            "spec": {"template": _Uncopyable()},
        }
    )
    assert store.build(body=deployment) == {}
    instance = kopf.Body(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": "r", "uid": "u-1", "labels": {"team": "a"}},
            "spec": {"image": "app:1"},
        }
    )
    assert store.build(body=instance) == {
        "spec": {"image": "app:1"},
        "metadata": {"labels": {"team": "a"}},
    }
    # Without the list of compared kinds, every kind gets its essence (kopf's behaviour).
    plain = kopf.Body({**deployment, "spec": {"replicas": 2}})
    assert MemoryDiffBase().build(body=plain) == {
        "spec": {"replicas": 2},
        "metadata": {"labels": {"app": "r"}},
    }


def test_kopf_keeps_its_memory_in_the_store_the_runtime_forgets_from() -> None:
    """The runtime drops a deleted instance's essence from the store kopf was given."""
    settings, store = kopf.OperatorSettings(), MemoryDiffBase()
    tune(settings, store)
    assert settings.persistence.diffbase_storage is store


@pytest.mark.parametrize(
    ("reason", "status", "trigger"),
    [
        ("create", {}, "create"),  # a new instance
        ("create", {"observedGeneration": 2}, "resume"),  # first seen since the operator started
        ("update", {"observedGeneration": 2}, "update"),
        ("resume", {"observedGeneration": 2}, "resume"),
    ],
)
def test_a_creation_of_an_instance_reconciled_before_is_a_resume(
    reason: str, status: dict[str, Any], trigger: str
) -> None:
    assert handled_trigger(reason, {"metadata": {"generation": 3}, "status": status}) == trigger
