"""Restart tokens, and what one reconciliation plans for the rollout: the image the Deployment
gets, the restart in its pod template, and the status fields and conditions."""

from __future__ import annotations

from typing import Any

import pytest

from repairgpt_operator.conditions import find_condition
from repairgpt_operator.instance.model import Instance, InvalidSpec
from repairgpt_operator.resources.deployment import build_deployment
from repairgpt_operator.rollout.health import observe_deployment
from repairgpt_operator.rollout.reconcile import merge_patch, plan_rollout, rollout_step
from repairgpt_operator.rollout.restart import RESTART_ANNOTATION, next_restart, template_token
from tests.operator.factories import instance_body, make_instance

GOOD, BAD = "repo/app:1", "repo/app:2"


def _deployment(image: str, *, ready: bool = True, exceeded: bool = False) -> dict[str, Any]:
    progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
    if exceeded:
        progressing = {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": "timed out",
        }
    return {
        "metadata": {"generation": 2},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "api", "image": image}]}},
        },
        "status": {
            "observedGeneration": 2,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1 if ready else 0,
            "conditions": [progressing],
        },
    }


def test_a_new_token_is_recorded_and_its_rollout_noted_once() -> None:
    asked = next_restart({}, "t-1", rolled_out_token=None, now="T1")
    assert asked == {"token": "t-1", "requestedTime": "T1"}
    done = next_restart(asked, "t-1", rolled_out_token="t-1", now="T2")
    assert done == {"token": "t-1", "requestedTime": "T1", "rolledOutTime": "T2"}
    assert next_restart(done, "t-1", rolled_out_token="t-1", now="T3") == done
    assert next_restart(done, "t-2", rolled_out_token="t-1", now="T4") == {
        "token": "t-2",
        "requestedTime": "T4",
    }


def test_the_template_keeps_the_recorded_token_when_the_annotation_goes() -> None:
    annotated = {"metadata": {"annotations": {RESTART_ANNOTATION: "t-2"}}, "status": {}}
    assert template_token(annotated) == "t-2"
    removed = {"metadata": {}, "status": {"restart": {"token": "t-2"}}}
    assert template_token(removed) == "t-2"
    assert template_token({"metadata": {}}) is None


def test_the_deployment_carries_the_token_the_applied_image_and_the_deadline() -> None:
    body = instance_body(
        {"image": BAD, "rollout": {"progressDeadlineSeconds": 45}},
        status={"rollout": {"image": GOOD}},
    )
    body["metadata"]["annotations"] = {RESTART_ANNOTATION: "2026-11-30T05:00"}
    deployment = build_deployment(Instance.from_body(body))
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"]["repairgpt.io/restart"] == "2026-11-30T05:00"
    assert template["spec"]["containers"][0]["image"] == GOOD
    assert deployment["spec"]["progressDeadlineSeconds"] == 45


def test_without_a_token_or_a_held_image_the_deployment_is_as_before() -> None:
    deployment = build_deployment(make_instance({"image": BAD}))
    template = deployment["spec"]["template"]
    assert list(template["metadata"]["annotations"]) == ["repairgpt.io/config-hash"]
    assert template["spec"]["containers"][0]["image"] == BAD
    assert deployment["spec"]["progressDeadlineSeconds"] == 600


def test_backup_before_upgrade_needs_backups() -> None:
    with pytest.raises(InvalidSpec, match="backup.enabled is required"):
        make_instance({"backup": {"beforeUpgrade": True}})


def test_a_failed_rollout_with_auto_rollback_plans_the_last_good_image() -> None:
    status = {"rollout": {"image": BAD, "lastGoodImage": GOOD}}
    body = instance_body({"image": BAD, "rollout": {"autoRollback": True}}, status=status)
    observed = observe_deployment(_deployment(BAD, ready=False, exceeded=True))
    planned = plan_rollout(Instance.from_body(body), body, observed, upgrade=None, now="T")
    assert planned["rollout"]["image"] == GOOD
    assert planned["rollout"]["failure"]["rolledBackTo"] == GOOD
    condition = find_condition(planned["conditions"], "RolloutHealthy")
    assert condition is not None and condition["reason"] == "RolledBack"


def test_a_held_upgrade_plans_the_running_image_and_a_false_condition() -> None:
    backup = {"enabled": True, "beforeUpgrade": True, "s3": {"bucket": "shop-backups"}}
    body = instance_body({"image": BAD, "backup": backup}, status={"rollout": {"image": GOOD}})
    record = {"image": BAD, "fromImage": GOOD, "generation": 1, "job": "j", "phase": "Running"}
    observed = observe_deployment(_deployment(GOOD))
    planned = plan_rollout(Instance.from_body(body), body, observed, upgrade=record, now="T")
    assert planned["rollout"]["image"] == GOOD
    assert planned["rollout"]["upgrade"] == record
    condition = find_condition(planned["conditions"], "BackupBeforeUpgrade")
    assert condition is not None and (condition["status"], condition["reason"]) == (
        "False",
        "Running",
    )
    done = {**record, "phase": "Succeeded"}
    planned = plan_rollout(Instance.from_body(body), body, observed, upgrade=done, now="T")
    assert planned["rollout"]["image"] == BAD


def test_a_deployment_change_asks_for_nothing_a_status_record_or_a_full_pass() -> None:
    body = instance_body({"image": GOOD})
    ready = _deployment(GOOD)
    planned = plan_rollout(
        Instance.from_body(body), body, observe_deployment(ready), upgrade=None, now="T"
    )
    assert rollout_step(body, ready) == "record"  # a newly ready image: the status says so
    recorded = instance_body({"image": GOOD}, status=planned)
    assert rollout_step(recorded, ready) == "none"
    # A missed deadline without automatic rollback changes the condition, not the image.
    assert rollout_step(recorded, _deployment(GOOD, ready=False, exceeded=True)) == "record"
    # With it, the last good image goes back on: the Deployment changes.
    failing = instance_body(
        {"image": BAD, "rollout": {"autoRollback": True}},
        status={"rollout": {"image": BAD, "lastGoodImage": GOOD}},
    )
    assert rollout_step(failing, _deployment(BAD, ready=False, exceeded=True)) == "act"
    # An upgrade whose backup runs is judged in a full pass (its Job is read).
    backup = {"enabled": True, "beforeUpgrade": True, "s3": {"bucket": "shop-backups"}}
    record = {"image": BAD, "fromImage": GOOD, "generation": 1, "job": "j", "phase": "Running"}
    held = instance_body(
        {"image": BAD, "backup": backup}, status={"rollout": {"image": GOOD, "upgrade": record}}
    )
    assert rollout_step(held, _deployment(GOOD)) == "act"


def test_fields_that_go_away_are_removed_from_the_stored_status() -> None:
    before = {
        "image": GOOD,
        "failure": {"image": BAD, "time": "T1", "rolledBackTo": GOOD},
        "history": [{"image": GOOD, "readyTime": "T0"}],
    }
    after = {"image": "repo/app:3", "history": [{"image": GOOD, "readyTime": "T0"}]}
    assert merge_patch(before, after) == {"image": "repo/app:3", "failure": None}
    restarted = merge_patch(
        {"token": "t-1", "requestedTime": "T1", "rolledOutTime": "T2"},
        {"token": "t-2", "requestedTime": "T3"},
    )
    assert restarted == {"token": "t-2", "requestedTime": "T3", "rolledOutTime": None}
    assert merge_patch(
        {"failure": {"image": BAD, "rolledBackTo": GOOD}}, {"failure": {"image": BAD}}
    ) == {"failure": {"rolledBackTo": None}}
