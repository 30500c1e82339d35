"""The Job index: which components of which instance have Jobs, as the Job watch reports them."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.backup.job_index import JobIndex
from repairgpt_operator.ownership import COMPONENT_LABEL, INSTANCE_LABEL


def _job(name: str, component: str, instance: str = "shop") -> dict[str, Any]:
    labels = {INSTANCE_LABEL: instance, COMPONENT_LABEL: component}
    return {"metadata": {"name": name, "namespace": "repair", "labels": labels}}


def test_a_component_has_jobs_from_the_first_event_to_the_last_deletion() -> None:
    index = JobIndex()
    assert not index.any("repair", "shop", "retention")
    index.observe(_job("shop-retention-1", "retention"), deleted=False)
    index.observe(_job("shop-retention-2", "retention"), deleted=False)
    index.observe(_job("shop-retention-1", "retention"), deleted=False)  # a status change
    index.observe(_job("shop-retention-1", "retention"), deleted=True)
    assert index.any("repair", "shop", "retention")
    index.observe(_job("shop-retention-2", "retention"), deleted=True)
    assert not index.any("repair", "shop", "retention")


def test_components_instances_and_unlabelled_jobs_are_kept_apart() -> None:
    index = JobIndex()
    index.observe(_job("shop-backup-1", "backup"), deleted=False)
    index.observe({"metadata": {"name": "stray", "namespace": "repair"}}, deleted=False)
    assert index.any("repair", "shop", "backup")
    assert not index.any("repair", "shop", "verify")
    assert not index.any("repair", "other", "backup")
    assert not index.any("other", "shop", "backup")
