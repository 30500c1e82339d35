"""The operator's per-instance metrics: derived from the status, gone with the instance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from repairgpt_operator import metrics
from repairgpt_operator.backup.rpo import rpo_window
from repairgpt_operator.monitoring.snapshot import instance_snapshot, status_snapshot
from tests.operator.factories import make_instance

BACKUPS = {"backup": {"enabled": True, "s3": {"bucket": "backups"}, "verify": {"enabled": True}}}


def _samples(namespace: str, name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for sample in family.samples:
            labels = dict(sample.labels)
            if labels.get("namespace") == namespace and labels.get("name") == name:
                extra = tuple(
                    sorted((k, v) for k, v in labels.items() if k not in ("namespace", "name"))
                )
                out[sample.name, extra] = sample.value
    return out


@pytest.fixture
def forget() -> Iterator[list[tuple[str, str]]]:
    keys: list[tuple[str, str]] = []
    yield keys
    for key in keys:
        metrics.INSTANCES.forget(*key)


def test_phase_and_conditions_are_one_hot(forget: list[tuple[str, str]]) -> None:
    instance = make_instance(name="m1", namespace="metrics")
    status = {
        "phase": "Degraded",
        "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "Reconciled", "status": "True"},
        ],
    }
    metrics.INSTANCES.record("metrics", "m1", instance_snapshot(instance, status))
    forget.append(("metrics", "m1"))
    samples = _samples("metrics", "m1")
    assert samples["repairgpt_instance_phase", (("phase", "Degraded"),)] == 1
    assert samples["repairgpt_instance_phase", (("phase", "Running"),)] == 0
    assert samples["repairgpt_instance_condition", (("status", "False"), ("type", "Ready"))] == 1
    assert samples["repairgpt_instance_condition", (("status", "True"), ("type", "Ready"))] == 0
    assert samples["repairgpt_instance_failed_over", ()] == 0
    # Backups are off: no backup series at all.
    assert not [key for key in samples if "backup" in key[0]]


def test_backup_failure_rpo_deadline_and_verification_come_from_the_status() -> None:
    instance = make_instance(BACKUPS)
    status = {
        "backup": {
            "lastSuccessfulTime": "2026-01-01T10:05:00Z",
            "lastFailureTime": "2026-01-01T11:05:00Z",
            "lastVerifiedTime": "2026-01-01T03:30:00Z",
        }
    }
    snapshot = instance_snapshot(instance, status)
    assert snapshot.backup_last_failed is True
    assert snapshot.verification_failed is False
    expected = rpo_window("0 * * * *", datetime(2026, 1, 1, 10, 5, tzinfo=UTC)).deadline
    assert snapshot.backup_rpo_deadline == expected.timestamp()
    status["backup"]["lastSuccessfulTime"] = "2026-01-01T12:00:00Z"
    assert instance_snapshot(instance, status).backup_last_failed is False


def test_a_suspended_schedule_has_no_rpo_deadline() -> None:
    instance = make_instance({"backup": {**BACKUPS["backup"], "suspend": True}})
    status = {"backup": {"lastSuccessfulTime": "2026-01-01T10:05:00Z"}}
    assert instance_snapshot(instance, status).backup_rpo_deadline is None


def test_failover_and_maintenance_since() -> None:
    instance = make_instance()
    status = {
        "database": {"active": "replica"},
        "maintenance": {"phase": "On"},
        "conditions": [
            {"type": "Maintenance", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        ],
    }
    snapshot = instance_snapshot(instance, status)
    assert snapshot.failed_over is True
    assert snapshot.maintenance_since == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    status["maintenance"] = {"phase": "Off"}
    assert instance_snapshot(instance, status).maintenance_since is None


def test_a_deleted_instance_leaves_no_series(forget: list[tuple[str, str]]) -> None:
    instance = make_instance(BACKUPS, name="gone", namespace="metrics")
    status = {"phase": "Running", "backup": {"lastSuccessfulTime": "2026-01-01T10:05:00Z"}}
    metrics.INSTANCES.record("metrics", "gone", instance_snapshot(instance, status))
    metrics.INSTANCES.count_reconciliation("metrics", "gone", failed=True)
    metrics.BACKUP_LAST_SUCCESS.labels(namespace="metrics", name="gone").set(1.0)
    assert _samples("metrics", "gone")
    metrics.INSTANCES.forget("metrics", "gone")
    assert _samples("metrics", "gone") == {}


def test_consecutive_failures_count_up_and_reset(forget: list[tuple[str, str]]) -> None:
    forget.append(("metrics", "flaky"))
    for _ in range(3):
        metrics.INSTANCES.count_reconciliation("metrics", "flaky", failed=True)
    key = ("repairgpt_operator_instance_consecutive_failures", ())
    assert _samples("metrics", "flaky")[key] == 3
    metrics.INSTANCES.count_reconciliation("metrics", "flaky", failed=False)
    assert _samples("metrics", "flaky")[key] == 0


def test_an_unparseable_spec_still_shows_its_degraded_phase() -> None:
    status = {
        "phase": "Degraded",
        "conditions": [{"type": "Reconciled", "status": "False", "reason": "InvalidSpec"}],
    }
    snapshot = status_snapshot(status)
    assert snapshot.phase == "Degraded"
    assert snapshot.conditions == (("Reconciled", "False"),)
    assert snapshot.backup_last_failed is None
