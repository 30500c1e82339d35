"""The maintenance state machine: enter, hold, and leave only once the API has a ready pod."""

from __future__ import annotations

import pytest

from repairgpt_operator.maintenance.state import (
    ApiDeploymentState,
    MaintenanceState,
    api_replicas,
    keeps_api_guards,
    next_state,
    restore_replicas,
    runs_maintenance_page,
    serves_maintenance_page,
)

RUNNING_FIVE = ApiDeploymentState(replicas=5, ready_replicas=5, up_to_date=True)
HELD_AT_ZERO = ApiDeploymentState(replicas=0, ready_replicas=0, up_to_date=True)


def test_entering_starts_the_page_while_the_api_serves_and_switches_once_it_is_ready() -> None:
    entering = next_state(MaintenanceState(), enabled=True, api=RUNNING_FIVE)
    assert entering == MaintenanceState("Entering", 5)
    assert runs_maintenance_page(entering)
    assert not serves_maintenance_page(entering)
    assert keeps_api_guards(entering)
    assert api_replicas(entering, spec_replicas=5, autoscaling=False) == 5
    # Not before a maintenance pod is ready: the Service never points at nothing.
    assert next_state(entering, enabled=True, api=RUNNING_FIVE) == entering
    state = next_state(entering, enabled=True, api=RUNNING_FIVE, page_ready=True)
    assert state == MaintenanceState("On", 5)
    assert api_replicas(state, spec_replicas=2, autoscaling=False) == 0
    assert api_replicas(state, spec_replicas=2, autoscaling=True) == 0
    assert serves_maintenance_page(state)
    assert not keeps_api_guards(state)


def test_staying_in_maintenance_keeps_the_recorded_count() -> None:
    state = MaintenanceState("On", 5)
    assert next_state(state, enabled=True, api=HELD_AT_ZERO) == state


def test_leaving_waits_for_a_ready_api_pod_before_switching_the_service_back() -> None:
    state = next_state(MaintenanceState("On", 5), enabled=False, api=HELD_AT_ZERO)
    assert state == MaintenanceState("Exiting", 5)
    assert serves_maintenance_page(state)
    assert keeps_api_guards(state)
    assert api_replicas(state, spec_replicas=2, autoscaling=False) == 2
    assert api_replicas(state, spec_replicas=2, autoscaling=True) is None

    scaling = ApiDeploymentState(replicas=2, ready_replicas=0, up_to_date=True)
    assert next_state(state, enabled=False, api=scaling) == state
    stale = ApiDeploymentState(replicas=2, ready_replicas=1, up_to_date=False)
    assert next_state(state, enabled=False, api=stale) == state

    ready = ApiDeploymentState(replicas=2, ready_replicas=1, up_to_date=True)
    done = next_state(state, enabled=False, api=ready)
    assert done == MaintenanceState()
    assert not serves_maintenance_page(done)


def test_re_entering_while_exiting_keeps_the_original_count() -> None:
    assert next_state(
        MaintenanceState("Exiting", 5), enabled=True, api=HELD_AT_ZERO
    ) == MaintenanceState("On", 5)


def test_an_api_that_had_no_pods_leaves_maintenance_at_once() -> None:
    assert next_state(MaintenanceState("On", 0), enabled=False, api=HELD_AT_ZERO) == (
        MaintenanceState()
    )


def test_with_an_hpa_the_previous_count_is_restored_but_never_below_its_minimum() -> None:
    assert restore_replicas(MaintenanceState("Exiting", 7), autoscaling=True, min_replicas=5) == 7
    assert restore_replicas(MaintenanceState("Exiting", 2), autoscaling=True, min_replicas=5) == 5
    assert (
        restore_replicas(MaintenanceState("Exiting", None), autoscaling=True, min_replicas=5) == 5
    )
    with pytest.raises(ValueError):
        restore_replicas(MaintenanceState("Exiting", 7), autoscaling=False, min_replicas=1)


def test_an_api_without_pods_enters_at_once_and_leaving_while_entering_changes_nothing() -> None:
    assert next_state(MaintenanceState(), enabled=True, api=HELD_AT_ZERO) == MaintenanceState(
        "On", 0
    )
    entering = MaintenanceState("Entering", 5)
    assert next_state(entering, enabled=False, api=RUNNING_FIVE) == MaintenanceState()
