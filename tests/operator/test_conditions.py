"""Condition maths keeps transition times stable when nothing changes."""

from __future__ import annotations

from repairgpt_operator.conditions import find_condition, is_true, make_condition, set_condition


def _ready(status: str) -> dict:
    return make_condition("Ready", status, reason="R", message="m", observed_generation=1)  # type: ignore[arg-type]


def test_a_new_condition_gets_the_current_time() -> None:
    conditions = set_condition([], _ready("True"), now="T1")
    assert conditions == [{**_ready("True"), "lastTransitionTime": "T1"}]


def test_the_same_status_keeps_its_transition_time() -> None:
    conditions = set_condition([], _ready("True"), now="T1")
    again = set_condition(conditions, {**_ready("True"), "message": "other"}, now="T2")
    assert again[0]["lastTransitionTime"] == "T1"
    assert again[0]["message"] == "other"


def test_a_flipped_status_moves_the_transition_time() -> None:
    conditions = set_condition([], _ready("True"), now="T1")
    flipped = set_condition(conditions, _ready("False"), now="T2")
    assert flipped[0]["lastTransitionTime"] == "T2"
    assert not is_true(flipped, "Ready")


def test_other_conditions_are_kept_in_place() -> None:
    other = {"type": "BackupHealthy", "status": "True", "lastTransitionTime": "T0"}
    conditions = set_condition([other], _ready("True"), now="T1")
    assert conditions[0] == other
    assert find_condition(conditions, "Ready") is not None
    assert find_condition(conditions, "Missing") is None
