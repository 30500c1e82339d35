"""The Events of a reconciliation: what went wrong first, then what changed."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.events import Event
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.kube import ApiError
from repairgpt_operator.reporting import outcome_events
from tests.operator.factories import instance_body, make_instance


def _reasons(body: dict[str, Any], trigger: str, outcome: Outcome) -> list[str]:
    return [event.reason for event in outcome_events(body, trigger, outcome)]


def test_a_created_instance_gets_one_event_naming_its_children() -> None:
    outcome = Outcome(instance=make_instance(), applied=["Deployment/shop-api", "Service/shop-api"])
    [event] = outcome_events(instance_body(), "create", outcome)
    assert event == Event("Normal", "Created", "created Deployment/shop-api, Service/shop-api")


def test_drift_found_by_the_resync_or_a_child_watch_is_reported_as_corrected() -> None:
    outcome = Outcome(instance=make_instance(), deleted=["HorizontalPodAutoscaler/shop-api"])
    for trigger in ("resync", "child"):
        [event] = outcome_events(instance_body(), trigger, outcome)
        assert event.reason == "DriftCorrected"
        assert event.message == "restored deleted HorizontalPodAutoscaler/shop-api"


def test_an_invalid_spec_is_the_only_event() -> None:
    outcome = Outcome(invalid_spec="spec.replicas: too many", applied=["Service/shop-api"])
    assert outcome_events(instance_body(), "update", outcome) == [
        Event("Warning", "InvalidSpec", "spec.replicas: too many")
    ]


def test_a_refused_apply_comes_before_what_was_applied() -> None:
    outcome = Outcome(
        instance=make_instance(),
        applied=["Service/shop-api"],
        errors=[ApiError(422, "Invalid", "Deployment/shop-api: bad")],
        started_job="shop-backup-abc",
        backup_events=[Event("Normal", "BackupSucceeded", "done")],
    )
    reasons = _reasons(instance_body(), "update", outcome)
    assert reasons == ["ApplyFailed", "BackupStarted", "BackupSucceeded", "Updated"]


def test_a_maintenance_phase_change_is_reported_once() -> None:
    body = instance_body(status={"maintenance": {"phase": "Off"}})
    entering = make_instance(status={"maintenance": {"phase": "Entering"}})
    assert _reasons(body, "maintenance", Outcome(instance=entering)) == ["MaintenanceEntering"]
    same = instance_body(status={"maintenance": {"phase": "Entering"}})
    assert _reasons(same, "maintenance", Outcome(instance=entering)) == []
