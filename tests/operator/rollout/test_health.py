"""Rollout health decisions: which images count as good, when a rollout has failed, and when the
operator rolls back (once, without looping)."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.rollout.health import (
    HISTORY_LIMIT,
    DeploymentObservation,
    choose_image,
    next_rollout,
    observe_deployment,
    rollout_condition,
    rollout_events,
)

GOOD, BAD, NEXT = "repo/app:1", "repo/app:2-broken", "repo/app:3"


def _deployment(
    image: str,
    *,
    replicas: int = 2,
    updated: int = 2,
    available: int = 2,
    total: int | None = None,
    generation: int = 3,
    observed: int = 3,
    progressing: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": {"containers": [{"name": "api", "image": image}]}}
    if token:
        template["metadata"] = {"annotations": {"repairgpt.io/restart": token}}
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas, "template": template},
        "status": {
            "observedGeneration": observed,
            "replicas": updated if total is None else total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": [progressing or {"type": "Progressing", "status": "True"}],
        },
    }


EXCEEDED = {
    "type": "Progressing",
    "status": "False",
    "reason": "ProgressDeadlineExceeded",
    "message": 'ReplicaSet "shop-api-7c9" has timed out progressing.',
}


def test_a_deployment_counts_as_rolled_out_only_when_every_pod_is_updated_and_available() -> None:
    assert observe_deployment(_deployment(GOOD)).complete  # type: ignore[union-attr]
    # Old pods still running, a pod not yet available, the controller behind the spec:
    for not_done in (
        _deployment(GOOD, total=3),
        _deployment(GOOD, available=1),
        _deployment(GOOD, updated=1),
        _deployment(GOOD, generation=4, observed=3),
        _deployment(GOOD, replicas=0, updated=0, available=0),
    ):
        observed = observe_deployment(not_done)
        assert observed is not None and not observed.complete, not_done


def test_a_missed_deadline_counts_only_for_the_generation_the_controller_has_seen() -> None:
    seen = observe_deployment(_deployment(BAD, available=0, progressing=EXCEEDED))
    assert seen is not None and seen.deadline_exceeded
    assert seen.progress_message == EXCEEDED["message"]
    # Just re-applied (e.g. the rollback): the old verdict is about the previous template.
    stale = observe_deployment(
        _deployment(GOOD, available=0, generation=5, observed=4, progressing=EXCEEDED)
    )
    assert stale is not None and not stale.deadline_exceeded


def test_a_fully_ready_image_goes_to_the_top_of_the_history_once() -> None:
    ready = observe_deployment(_deployment(NEXT))
    previous = {"history": [{"image": GOOD, "readyTime": "T1"}], "lastGoodImage": GOOD}
    first = next_rollout(previous, ready, spec_image=NEXT, auto_rollback=False, now="T2")
    assert first["history"] == [
        {"image": NEXT, "readyTime": "T2"},
        {"image": GOOD, "readyTime": "T1"},
    ]
    assert first["lastGoodImage"] == NEXT
    # Later looks at the same rollout change nothing (the time stays the first one).
    again = next_rollout(first, ready, spec_image=NEXT, auto_rollback=False, now="T3")
    assert again == first


def test_the_history_keeps_the_newest_five_images() -> None:
    rollout: dict[str, Any] = {}
    for index in range(HISTORY_LIMIT + 2):
        observed = observe_deployment(_deployment(f"repo/app:{index}"))
        rollout = next_rollout(
            rollout, observed, spec_image=f"repo/app:{index}", auto_rollback=False, now=f"T{index}"
        )
    assert [entry["image"] for entry in rollout["history"]] == [
        f"repo/app:{index}" for index in range(HISTORY_LIMIT + 1, 1, -1)
    ]


def test_a_missed_deadline_of_spec_image_is_recorded_with_the_rollback_target() -> None:
    previous = {"history": [{"image": GOOD, "readyTime": "T1"}], "lastGoodImage": GOOD}
    failing = observe_deployment(_deployment(BAD, available=1, progressing=EXCEEDED))
    rollout = next_rollout(previous, failing, spec_image=BAD, auto_rollback=True, now="T2")
    assert rollout["failure"] == {
        "image": BAD,
        "time": "T2",
        "message": EXCEEDED["message"],
        "rolledBackTo": GOOD,
    }
    assert choose_image(rollout, spec_image=BAD) == GOOD
    assert [e.reason for e in rollout_events(previous, rollout)] == ["RolloutFailed", "RolledBack"]


def test_without_auto_rollback_the_failure_is_reported_and_spec_image_stays_applied() -> None:
    previous = {"lastGoodImage": GOOD}
    failing = observe_deployment(_deployment(BAD, available=1, progressing=EXCEEDED))
    rollout = next_rollout(previous, failing, spec_image=BAD, auto_rollback=False, now="T2")
    assert "rolledBackTo" not in rollout["failure"]
    assert choose_image(rollout, spec_image=BAD) == BAD
    condition = rollout_condition(
        rollout, failing, spec_image=BAD, deadline_seconds=30, auto_rollback=False, generation=7
    )
    assert (condition["status"], condition["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert condition["message"] == (
        f"pods of {BAD} were not ready within 30 s; spec.rollout.autoRollback is off"
    )
    assert [e.reason for e in rollout_events(previous, rollout)] == ["RolloutFailed"]


def test_the_rollback_is_decided_once_and_does_not_retry_the_bad_image() -> None:
    previous = {"lastGoodImage": GOOD, "history": [{"image": GOOD, "readyTime": "T1"}]}
    failing = observe_deployment(_deployment(BAD, available=1, progressing=EXCEEDED))
    rolled = next_rollout(previous, failing, spec_image=BAD, auto_rollback=True, now="T2")
    # The Deployment is back on the good image and ready again; spec.image still names BAD.
    back = observe_deployment(_deployment(GOOD, generation=4, observed=4))
    for now in ("T3", "T4", "T5"):
        later = next_rollout(rolled, back, spec_image=BAD, auto_rollback=True, now=now)
        assert later == rolled
        assert choose_image(later, spec_image=BAD) == GOOD
        assert rollout_events(rolled, later) == []
    condition = rollout_condition(
        rolled, back, spec_image=BAD, deadline_seconds=30, auto_rollback=True, generation=7
    )
    assert (condition["status"], condition["reason"]) == ("False", "RolledBack")
    assert f"spec.image {BAD} is not applied until it changes" in condition["message"]


def test_a_new_spec_image_is_tried_after_a_rollback() -> None:
    rolled = {
        "lastGoodImage": GOOD,
        "failure": {"image": BAD, "time": "T2", "message": "", "rolledBackTo": GOOD},
    }
    back = observe_deployment(_deployment(GOOD))
    rollout = next_rollout(rolled, back, spec_image=NEXT, auto_rollback=True, now="T3")
    assert "failure" not in rollout
    assert choose_image(rollout, spec_image=NEXT) == NEXT


def test_there_is_nothing_to_roll_back_to_before_any_image_was_ready() -> None:
    failing = observe_deployment(_deployment(BAD, available=0, progressing=EXCEEDED))
    rollout = next_rollout({}, failing, spec_image=BAD, auto_rollback=True, now="T1")
    assert rollout["failure"]["image"] == BAD and "rolledBackTo" not in rollout["failure"]
    assert choose_image(rollout, spec_image=BAD) == BAD
    condition = rollout_condition(
        rollout, failing, spec_image=BAD, deadline_seconds=60, auto_rollback=True, generation=1
    )
    assert condition["reason"] == "ProgressDeadlineExceeded"
    assert "nothing to roll back to" in condition["message"]


def test_a_held_upgrade_keeps_the_running_image() -> None:
    assert choose_image({}, spec_image=NEXT, held_at=GOOD) == GOOD
    assert choose_image({}, spec_image=NEXT) == NEXT


def test_a_rollout_in_progress_and_a_finished_one_are_healthy() -> None:
    rolling = DeploymentObservation(image=NEXT, replicas=2, current=True)
    condition = rollout_condition(
        {}, rolling, spec_image=NEXT, deadline_seconds=600, auto_rollback=False, generation=2
    )
    assert (condition["status"], condition["reason"]) == ("True", "Progressing")
    done = observe_deployment(_deployment(NEXT))
    condition = rollout_condition(
        {}, done, spec_image=NEXT, deadline_seconds=600, auto_rollback=False, generation=2
    )
    assert (condition["status"], condition["reason"]) == ("True", "RolledOut")
    assert condition["message"] == f"{NEXT} is ready on all 2 pods"


def test_the_restart_token_of_the_template_is_observed() -> None:
    observed = observe_deployment(_deployment(GOOD, token="t-1"))
    assert observed is not None and observed.restart_token == "t-1"
